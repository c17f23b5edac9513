import { DeliveryStatus, MessageStatus, SmsEncoding } from '../db/sql.ts';
import { builder } from './builder.ts';

export const DeliveryStatusEnum = builder.enumType(DeliveryStatus, { name: 'DeliveryStatus' });
export const MessageStatusEnum = builder.enumType(MessageStatus, { name: 'MessageStatus' });
export const SmsEncodingEnum = builder.enumType(SmsEncoding, { name: 'SmsEncoding' });
