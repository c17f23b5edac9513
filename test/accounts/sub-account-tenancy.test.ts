import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TypedDocumentString } from '../generated/graphql.ts';
import {
  ApiKeys,
  CreateAccessToken,
  CreateApiKey,
  CreateSubAccount,
  Ledger,
  MyAccount,
  ParentBalance,
  RevokeApiKey,
  SubAccounts,
  SuspendSubAccount,
  TransferCredit,
} from '../support/account-documents.ts';
import { Collector, gql, gqlData, wsClient } from '../support/client.ts';
import { Balance, DeliveryReports, DeliveryUpdated, MessageById, SendSms } from '../support/documents.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { ledgerSum, wholeLedger } from '../support/ledger.ts';

type Party = { apiKey: string; accountId: string; globalId: string; messageId: string; cursor: string; keyId: string };

const codesOf = (result: { errors?: Array<{ extensions?: { code?: string } }> }) => result.errors?.map((e) => e.extensions?.code);

describe('sub-accounts and their parent', () => {
  let gateway: TestGateway;
  let parent: Party;
  let child: Party;
  let sibling: Party;

  /** Sends one message with the party's key and keeps its id and its first update's cursor. */
  async function sendOne(apiKey: string, accountId: string, text: string, recipient: string) {
    const updates = new Collector(wsClient(gateway.wsUrl, apiKey), DeliveryUpdated);
    await gateway.subscribersLive(accountId);
    const sent = await gqlData(gateway.graphqlUrl, apiKey, SendSms, { input: { message: text, recipients: [recipient] } });
    const [first] = await updates.until((items) => items.length > 0, 'the first update');
    updates.dispose();
    return { messageId: sent.sendSms.message.id, cursor: first!.deliveryUpdated.cursor };
  }

  async function party(apiKey: string, accountId: string, text: string, recipient: string): Promise<Party> {
    const own = (await gqlData(gateway.graphqlUrl, apiKey, MyAccount)).account;
    const keyId = (await gqlData(gateway.graphqlUrl, apiKey, ApiKeys, {})).apiKeys.edges[0]!.node.id;
    return { apiKey, accountId, globalId: own.id, keyId, ...(await sendOne(apiKey, accountId, text, recipient)) };
  }

  async function childOf(name: string): Promise<{ apiKey: string; accountId: string }> {
    const url = gateway.graphqlUrl;
    const created = (await gqlData(url, parent.apiKey, CreateSubAccount, { input: { name } })).createSubAccount;
    await gqlData(url, parent.apiKey, TransferCredit, { input: { accountId: created.id, amount: '2' } });
    const key = await gqlData(url, parent.apiKey, CreateApiKey, { input: { accountId: created.id, scopes: ['send', 'read', 'admin'] } });
    return { apiKey: key.createApiKey.secret, accountId: Buffer.from(created.id, 'base64').toString().split(':')[1]! };
  }

  beforeAll(async () => {
    gateway = await startGateway({ RATE_LIMITS: JSON.stringify({ status: 10_000, reports: 10_000, admin: 10_000, balance: 10_000, send: 10_000 }) });
    const top = await gateway.account({ credit: '10' });
    parent = await party(top.apiKey, top.accountId, 'parent private text', '+255712345671');
    const a = await childOf('child');
    child = await party(a.apiKey, a.accountId, 'child private text', '+255712345672');
    const b = await childOf('sibling');
    sibling = await party(b.apiKey, b.accountId, 'sibling private text', '+255712345673');
  });
  afterAll(() => gateway.stop());

  it('a sub-account sees nothing of its parent or its sibling by any id', async () => {
    const url = gateway.graphqlUrl;
    for (const other of [parent, sibling]) {
      const read = await gql(url, child.apiKey, MessageById, { id: other.messageId });
      expect(codesOf(read)).toEqual(['MESSAGE_NOT_FOUND']);
      expect(JSON.stringify(read)).not.toContain('private');
      const reports = await gqlData(url, child.apiKey, DeliveryReports, { filter: { messageId: other.messageId } });
      expect(reports.deliveryReports.totalCount).toBe(0);
      for (const [document, variables] of [
        [Ledger, { accountId: other.globalId }],
        [ApiKeys, { accountId: other.globalId }],
        [TransferCredit, { input: { accountId: other.globalId, amount: '1' } }],
        [CreateApiKey, { input: { accountId: other.globalId, scopes: ['read'] } }],
        [SuspendSubAccount, { id: other.globalId, suspended: true }],
      ] as Array<[TypedDocumentString<unknown, unknown>, unknown]>) {
        expect(codesOf(await gql(url, child.apiKey, document, variables))).toEqual(['ACCOUNT_NOT_FOUND']);
      }
      expect(codesOf(await gql(url, child.apiKey, RevokeApiKey, { id: other.keyId }))).toEqual(['API_KEY_NOT_FOUND']);
    }
    // It knows who its parent is, and nothing of what its parent holds.
    const own = await gqlData(url, child.apiKey, MyAccount);
    expect(own.account.parent).toMatchObject({ id: parent.globalId });
    const peek = await gql(url, child.apiKey, ParentBalance);
    expect(codesOf(peek)).toEqual(['INSUFFICIENT_PERMISSIONS']);
    expect(peek.data?.account.parent ?? null).toBeNull();
    expect((await gqlData(url, child.apiKey, SubAccounts, {})).subAccounts.edges).toEqual([]);
    // Its money is its own: its ledger adds up to its balance, with nothing of anyone else's.
    const ledger = await wholeLedger(url, child.apiKey);
    expect(ledgerSum(ledger).equals((await gqlData(url, child.apiKey, Balance)).balance.amount)).toBe(true);
    expect(ledger.map((e) => e.messageId).filter(Boolean)).toEqual([child.messageId]);
  });

  it('a sub-account sees nothing of its parent or its sibling by cursor', async () => {
    const url = gateway.graphqlUrl;
    for (const other of [parent, sibling]) {
      const theirs = await gqlData(url, other.apiKey, DeliveryReports, {});
      const paged = await gqlData(url, child.apiKey, DeliveryReports, { after: theirs.deliveryReports.edges[0]!.cursor });
      expect(paged.deliveryReports.edges.map((e) => e.node.message.id).filter((id) => id !== child.messageId)).toEqual([]);
      const ledgerCursor = (await gqlData(url, other.apiKey, Ledger, {})).ledger.edges.at(-1)!.cursor;
      const ledgerPage = await gqlData(url, child.apiKey, Ledger, { after: ledgerCursor });
      expect(ledgerPage.ledger.edges.every((e) => e.node.messageId === null || e.node.messageId === child.messageId)).toBe(true);
    }
  });

  it('a sub-account sees nothing of its parent or its sibling by subscription', async () => {
    for (const other of [parent, sibling]) {
      const byId = new Collector(wsClient(gateway.wsUrl, child.apiKey), DeliveryUpdated, { messageId: other.messageId });
      await expect(byId.until(() => false)).rejects.toThrow(/MESSAGE_NOT_FOUND/);
      byId.dispose();
    }
    // Replayed from the others' cursors and live while they send: only its own updates arrive.
    const all = new Collector(wsClient(gateway.wsUrl, child.apiKey), DeliveryUpdated, { after: parent.cursor });
    await gateway.subscribersLive(child.accountId);
    await gqlData(gateway.graphqlUrl, parent.apiKey, SendSms, { input: { message: 'parent again', recipients: ['+255712345674'] } });
    await gqlData(gateway.graphqlUrl, sibling.apiKey, SendSms, { input: { message: 'sibling again', recipients: ['+255712345675'] } });
    const mine = await gqlData(gateway.graphqlUrl, child.apiKey, SendSms, { input: { message: 'child again', recipients: ['+255712345676'] } });
    await all.until((items) => items.some((u) => u.deliveryUpdated.messageId === mine.sendSms.message.id), 'its own new message');
    all.dispose();
    expect(new Set(all.items.map((u) => u.deliveryUpdated.messageId))).toEqual(new Set([child.messageId, mine.sendSms.message.id]));
  });

  it('a parent reaches its children only through the fields made for it', async () => {
    const url = gateway.graphqlUrl;
    // Not as if their messages were its own...
    expect(codesOf(await gql(url, parent.apiKey, MessageById, { id: child.messageId }))).toEqual(['MESSAGE_NOT_FOUND']);
    expect((await gqlData(url, parent.apiKey, DeliveryReports, { filter: { messageId: child.messageId } })).deliveryReports.totalCount).toBe(0);
    const byId = new Collector(wsClient(gateway.wsUrl, parent.apiKey), DeliveryUpdated, { messageId: child.messageId });
    await expect(byId.until(() => false)).rejects.toThrow(/MESSAGE_NOT_FOUND/);
    byId.dispose();
    expect(codesOf(await gql(url, parent.apiKey, CreateAccessToken, { input: { scopes: ['read'], ttlSeconds: 60, messageId: child.messageId } }))).toEqual([
      'MESSAGE_NOT_FOUND',
    ]);
    // ...but through subAccounts, ledger, apiKeys, createApiKey, transferCredit and suspendSubAccount.
    const listed = (await gqlData(url, parent.apiKey, SubAccounts, {})).subAccounts.edges.map((e) => e.node.name);
    expect(listed).toEqual(['child', 'sibling']);
    const childLedger = await wholeLedger(url, parent.apiKey, child.globalId);
    expect(childLedger.map((e) => e.messageId).filter(Boolean)).toContain(child.messageId);
    const keys = await gqlData(url, parent.apiKey, ApiKeys, { accountId: child.globalId });
    expect(keys.apiKeys.edges.map((e) => e.node.accountId)).toEqual([child.globalId]);
  });

  it('a key without admin calls no admin field', async () => {
    const url = gateway.graphqlUrl;
    for (const scopes of [['send'], ['read'], ['send', 'read']]) {
      const key = (await gqlData(url, parent.apiKey, CreateApiKey, { input: { scopes } })).createApiKey.secret;
      for (const [document, variables] of [
        [ApiKeys, {}],
        [SubAccounts, {}],
        [CreateApiKey, { input: { scopes: ['send'] } }],
        [RevokeApiKey, { id: parent.keyId }],
        [CreateSubAccount, { input: { name: 'nope' } }],
        [TransferCredit, { input: { accountId: child.globalId, amount: '1' } }],
        [SuspendSubAccount, { id: child.globalId, suspended: true }],
        [Ledger, { accountId: child.globalId }],
      ] as Array<[TypedDocumentString<unknown, unknown>, unknown]>) {
        const result = await gql(url, key, document, variables);
        expect(codesOf(result)).toEqual(['INSUFFICIENT_PERMISSIONS']);
      }
    }
    // Nothing happened meanwhile: the child holds what it held, and is not suspended.
    const { subAccounts } = await gqlData(url, parent.apiKey, SubAccounts, {});
    expect(subAccounts.edges.map((e) => [e.node.name, e.node.balance, e.node.suspended])).toEqual([
      ['child', '1.96', false],
      ['sibling', '1.96', false],
    ]);
  });
});
