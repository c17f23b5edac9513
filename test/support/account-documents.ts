import { graphql } from '../generated/gql.ts';

export const MyAccount = graphql(`
  query MyAccount {
    account {
      id
      name
      currency
      balance
      test
      suspended
      createdAt
      parent {
        id
        name
      }
    }
  }
`);

export const ParentBalance = graphql(`
  query ParentBalance {
    account {
      parent {
        id
        balance
      }
    }
  }
`);

export const ApiKeys = graphql(`
  query ApiKeys($accountId: ID, $first: Int, $after: String) {
    apiKeys(accountId: $accountId, first: $first, after: $after) {
      edges {
        cursor
        node {
          id
          accountId
          name
          prefix
          scopes
          allowedOrigins
          createdAt
          lastUsedAt
          expiresAt
          revokedAt
        }
      }
      pageInfo {
        hasNextPage
        endCursor
      }
    }
  }
`);

export const CreateApiKey = graphql(`
  mutation CreateApiKey($input: CreateApiKeyInput!) {
    createApiKey(input: $input) {
      secret
      apiKey {
        id
        accountId
        name
        prefix
        scopes
        allowedOrigins
        expiresAt
        revokedAt
      }
    }
  }
`);

export const RevokeApiKey = graphql(`
  mutation RevokeApiKey($id: ID!) {
    revokeApiKey(id: $id) {
      id
      revokedAt
    }
  }
`);

export const CreateSubAccount = graphql(`
  mutation CreateSubAccount($input: CreateSubAccountInput!) {
    createSubAccount(input: $input) {
      id
      name
      currency
      balance
      test
      suspended
      parent {
        id
      }
      prices {
        country
        pricePerSegment
      }
    }
  }
`);

export const SubAccounts = graphql(`
  query SubAccounts($first: Int, $after: String) {
    subAccounts(first: $first, after: $after) {
      edges {
        cursor
        node {
          id
          name
          currency
          balance
          suspended
          usageThisMonth {
            since
            messages
            recipients
            spend
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

export const TransferCredit = graphql(`
  mutation TransferCredit($input: TransferCreditInput!) {
    transferCredit(input: $input) {
      id
      balance
      currency
    }
  }
`);

export const SuspendSubAccount = graphql(`
  mutation SuspendSubAccount($id: ID!, $suspended: Boolean!) {
    suspendSubAccount(id: $id, suspended: $suspended) {
      id
      suspended
    }
  }
`);

export const Ledger = graphql(`
  query Ledger($accountId: ID, $first: Int, $after: String) {
    ledger(accountId: $accountId, first: $first, after: $after) {
      edges {
        cursor
        node {
          id
          amount
          balanceAfter
          kind
          messageId
          deliveryId
          counterpartAccountId
          note
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

export const CreateAccessToken = graphql(`
  mutation CreateAccessToken($input: CreateAccessTokenInput!) {
    createAccessToken(input: $input) {
      token
      expiresAt
      scopes
      after
    }
  }
`);
