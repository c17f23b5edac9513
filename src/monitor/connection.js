// The page's one connection to the public GraphQL API: graphql-ws (its browser build, served
// from node_modules), with the API key in connection_init like any client.
const { createClient } = globalThis.graphqlWs;

const SUMMARY = `query MonitorSummary($since: DateTime!, $timeline: DeliveryTimelineInput!) {
  deliverySummary(since: $since, timeline: $timeline) {
    since until cursor
    byStatus { status count }
    byProvider { provider status count }
    timeline { start status count }
  }
}`;

const LATEST = `query MonitorLatest {
  deliveryReports(first: 50) {
    edges { node { id recipient status provider errorCode errorMessage sentAt createdAt updatedAt message { id } } }
  }
}`;

const UPDATES = `subscription MonitorUpdates($after: String) {
  deliveryUpdated(after: $after) {
    cursor messageId occurredAt
    delivery { id recipient status provider errorCode errorMessage sentAt createdAt }
  }
}`;

// A message's deliveries a page at a time: a campaign's ten thousand would be too much to ask
// for in one answer (and to show).
const DRILLDOWN_DELIVERIES = 100;
const MESSAGE = `query MonitorMessage($id: ID!) {
  message(id: $id) { id text senderId status encoding segments recipientCount cost currency createdAt scheduledAt }
  deliveryReports(first: ${DRILLDOWN_DELIVERIES}, filter: { messageId: $id }) {
    edges {
      node {
        id recipient status provider errorCode errorMessage sentAt deliveredAt cost
        attempts { provider at outcome errorCode errorMessage }
        routing { mode explored reason }
      }
    }
  }
}`;

// Admin keys only: for other keys the page leaves routes out.
const ROUTES = `query MonitorRoutes {
  routes {
    destination pinned
    providers { provider share deliveryRatio medianDeliverySeconds p90DeliverySeconds pricePerDelivered reports conversions errors outOfCredit state }
  }
}`;

const CLOSE_MESSAGES = { 4401: 'An API key is needed.', 4403: 'This API key is not accepted.' };

/**
 * Connects with `key`, seeds `dashboard` (summary, then the latest deliveries, read after it),
 * then follows every update after the summary's cursor. After a drop graphql-ws reconnects and
 * subscribes again with the same payload, which always holds the last cursor seen: nothing is
 * missed and nothing comes twice. `onState(state, detail)`: connecting, live, reconnecting,
 * wrong-key, error.
 */
export function connectMonitor({ url, key, dashboard, onState }) {
  let stopped = false;
  let live = false;
  const client = createClient({
    url,
    lazy: false,
    retryAttempts: Infinity,
    connectionParams: { authorization: `Bearer ${key}` },
    shouldRetry: (event) => !(event && event.code in CLOSE_MESSAGES),
    onNonLazyError: () => {},
    on: {
      connecting: (isRetry) => onState(isRetry || live ? 'reconnecting' : 'connecting'),
      connected: () => live && onState('live'),
      closed: (event) => {
        if (stopped) return;
        if (event?.code in CLOSE_MESSAGES) onState('wrong-key', CLOSE_MESSAGES[event.code]);
        else onState(live ? 'reconnecting' : 'connecting');
      },
    },
  });

  const query = (document, variables = {}) =>
    new Promise((resolve, reject) => {
      let result;
      client.subscribe({ query: document, variables }, {
        next: (value) => (result = value),
        error: (error) => reject(asError(error)),
        complete: () =>
          result?.errors?.length
            ? reject(Object.assign(new Error(result.errors[0].message), { code: result.errors[0].extensions?.code }))
            : resolve(result.data),
      });
    });

  const follow = (after) => {
    const payload = { query: UPDATES, variables: { after } };
    client.subscribe(payload, {
      next: (result) => {
        if (result.errors?.length) return onState('error', result.errors[0].message);
        const update = result.data.deliveryUpdated;
        payload.variables.after = update.cursor;
        dashboard.apply(update);
      },
      error: (error) => !stopped && onState(error?.code in CLOSE_MESSAGES ? 'wrong-key' : 'error', asError(error).message),
      // The server ends a subscription that falls too far behind: take it up again from the cursor.
      complete: () => !stopped && setTimeout(() => !stopped && follow(payload.variables.after), 1000),
    });
  };

  (async () => {
    const now = Date.now();
    const { deliverySummary } = await query(SUMMARY, {
      since: new Date(now - 3_600_000).toISOString(),
      timeline: { since: new Date(now - 300_000).toISOString(), bucketSeconds: 1 },
    });
    dashboard.seed(deliverySummary);
    const { deliveryReports } = await query(LATEST);
    dashboard.seedRows(deliveryReports.edges.map((edge) => edge.node));
    follow(deliverySummary.cursor);
    live = true;
    onState('live');
  })().catch((error) => {
    if (!stopped && !(error?.code in CLOSE_MESSAGES)) onState('error', error.message);
  });

  return {
    message: (id) =>
      query(MESSAGE, { id }).then((data) => data.message && { ...data.message, deliveries: data.deliveryReports.edges.map((edge) => edge.node) }),
    routes: () => query(ROUTES).then((data) => data.routes),
    stop() {
      stopped = true;
      client.dispose();
    },
  };
}

function asError(error) {
  if (error instanceof Error) return error;
  if (Array.isArray(error)) return new Error(error[0]?.message ?? 'error');
  if (error && 'code' in error) return Object.assign(new Error(CLOSE_MESSAGES[error.code] ?? `connection closed (${error.code})`), { code: error.code });
  return new Error(String(error));
}
