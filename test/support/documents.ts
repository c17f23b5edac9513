import { graphql } from '../generated/gql.ts';

export const SendSms = graphql(`
  mutation SendSms($input: SendSmsInput!) {
    sendSms(input: $input) {
      message {
        id
        status
        encoding
        segments
        recipientCount
        cost
        currency
        reference
        scheduledAt
        deliveries {
          id
          recipient
          status
        }
      }
      rejectedRecipients {
        input
        code
        reason
      }
    }
  }
`);

export const SmsQuote = graphql(`
  query SmsQuote($input: SendSmsInput!) {
    smsQuote(input: $input) {
      encoding
      segments
      unicodeCharacters
      acceptedRecipients
      rejectedRecipients {
        input
        code
      }
      cost
      currency
      balanceAfter
      provider
    }
  }
`);

export const MessageById = graphql(`
  query MessageById($id: ID!) {
    message(id: $id) {
      id
      status
      text
      cost
      deliveries {
        id
        recipient
        status
        provider
        providerMessageId
        errorCode
        errorMessage
        sentAt
        deliveredAt
        attempts {
          provider
          outcome
          errorCode
        }
      }
    }
  }
`);

export const Balance = graphql(`
  query Balance {
    balance {
      accountId
      amount
      currency
      updatedAt
    }
  }
`);

export const DeliveryReports = graphql(`
  query DeliveryReports($filter: DeliveryReportFilter, $first: Int, $after: String) {
    deliveryReports(filter: $filter, first: $first, after: $after) {
      totalCount
      edges {
        cursor
        node {
          id
          recipient
          status
          errorCode
          createdAt
          message {
            id
            senderId
          }
        }
      }
      pageInfo {
        hasNextPage
        endCursor
      }
    }
  }
`);

export const ReportCount = graphql(`
  query ReportCount($filter: DeliveryReportFilter) {
    deliveryReports(filter: $filter, first: 1) {
      totalCount
      isTotalCountExact
    }
  }
`);

export const DeliveryUpdated = graphql(`
  subscription DeliveryUpdated($messageId: ID, $after: String) {
    deliveryUpdated(messageId: $messageId, after: $after) {
      cursor
      messageId
      messageStatus
      occurredAt
      delivery {
        id
        recipient
        status
        provider
        errorCode
        message {
          id
          status
        }
      }
    }
  }
`);

export const DeliverySummary = graphql(`
  query DeliverySummary($since: DateTime, $timeline: DeliveryTimelineInput) {
    deliverySummary(since: $since, timeline: $timeline) {
      since
      until
      cursor
      byStatus {
        status
        count
      }
      byProvider {
        provider
        status
        count
      }
      timeline {
        start
        status
        count
      }
    }
  }
`);

export const CreateWebhookEndpoint = graphql(`
  mutation CreateWebhookEndpoint($input: CreateWebhookEndpointInput!) {
    createWebhookEndpoint(input: $input) {
      endpoint {
        id
        url
        enabled
        createdAt
      }
      secret
    }
  }
`);

export const DeleteWebhookEndpoint = graphql(`
  mutation DeleteWebhookEndpoint($id: ID!) {
    deleteWebhookEndpoint(id: $id) {
      id
      url
    }
  }
`);

export const WebhookEndpoints = graphql(`
  query WebhookEndpoints($first: Int, $after: String) {
    webhookEndpoints {
      id
      url
      enabled
      disabledReason
      deliveries(first: $first, after: $after) {
        edges {
          node {
            cursor
            attempt
            outcome
            statusCode
            durationMs
            error
            responseExcerpt
            at
          }
        }
        pageInfo {
          hasNextPage
          endCursor
        }
      }
    }
  }
`);

export const ReplayWebhooks = graphql(`
  mutation ReplayWebhooks($endpointId: ID!, $after: String!) {
    replayWebhooks(endpointId: $endpointId, after: $after) {
      queued
      lastCursor
    }
  }
`);
export const CancelMessage = graphql(`
  mutation CancelMessage($id: ID!) {
    cancelMessage(id: $id) {
      id
      status
      cost
      deliveries {
        id
        recipient
        status
      }
    }
  }
`);

export const AddOptOuts = graphql(`
  mutation AddOptOuts($recipients: [String!]!) {
    addOptOuts(recipients: $recipients) {
      recipient
      createdAt
    }
  }
`);

export const RemoveOptOuts = graphql(`
  mutation RemoveOptOuts($recipients: [String!]!) {
    removeOptOuts(recipients: $recipients)
  }
`);

export const OptOuts = graphql(`
  query OptOuts($first: Int, $after: String) {
    optOuts(first: $first, after: $after) {
      edges {
        cursor
        node {
          recipient
          createdAt
        }
      }
      pageInfo {
        hasNextPage
        endCursor
      }
    }
  }
`);

export const ReportsWithMessageDeliveries = graphql(`
  query ReportsWithMessageDeliveries($first: Int) {
    deliveryReports(first: $first) {
      edges {
        node {
          message {
            deliveries {
              id
            }
          }
        }
      }
    }
  }
`);

export const HundredReportsWithMessageDeliveries = graphql(`
  query HundredReportsWithMessageDeliveries {
    deliveryReports(first: 100) {
      edges {
        node {
          message {
            deliveries {
              id
            }
          }
        }
      }
    }
  }
`);

export const MessageWithEveryDeliveryField = graphql(`
  query MessageWithEveryDeliveryField($id: ID!) {
    message(id: $id) {
      id
      deliveries {
        id
        recipient
        status
        provider
        providerMessageId
        errorCode
        errorMessage
        segments
        cost
        sentAt
        deliveredAt
        createdAt
        updatedAt
        attempts {
          provider
          at
          outcome
          errorCode
          errorMessage
        }
      }
    }
  }
`);

export const UpdatesWithMessageDeliveries = graphql(`
  subscription UpdatesWithMessageDeliveries {
    deliveryUpdated {
      cursor
      delivery {
        message {
          deliveries {
            id
          }
        }
      }
    }
  }
`);
