import { graphql } from '../generated/gql.ts';

export const Routes = graphql(`
  query Routes {
    routes {
      destination
      pinned
      reason
      providers {
        provider
        deliveryRatio
        reportedDeliveryRatio
        medianDeliverySeconds
        p90DeliverySeconds
        pricePerDelivered
        share
        reports
        conversions
        errors
        outOfCredit
        waitSeconds
        state
      }
    }
  }
`);

export const ReportConversion = graphql(`
  mutation ReportConversion($deliveryId: ID!) {
    reportConversion(deliveryId: $deliveryId) {
      id
      status
      provider
      convertedAt
    }
  }
`);

export const SendRouted = graphql(`
  mutation SendRouted($input: SendSmsInput!) {
    sendSms(input: $input) {
      message {
        id
        deliveries {
          id
          recipient
          routing {
            mode
            explored
            destination
            candidates {
              provider
              state
            }
          }
        }
      }
    }
  }
`);

export const MessageRouting = graphql(`
  query MessageRouting($id: ID!) {
    deliveryReports(first: 20, filter: { messageId: $id }) {
      edges {
        node {
          id
          recipient
          status
          provider
          routing {
            mode
            reason
            explored
            destination
            candidates {
              provider
              score
              deliveryRatio
              medianDeliverySeconds
              reports
              state
            }
          }
        }
      }
    }
  }
`);
