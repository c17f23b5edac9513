import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Collector, gqlData, wsClient } from '../support/client.ts';
import { DeliveryUpdated, SendSms } from '../support/documents.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';

// Updates are published only while some instance has a subscriber of the account. The sending
// instance has none of its own here: one subscriber is on a second instance from the start, and
// another joins on a third in the middle of the stream. Neither audits its feed against the
// event log meanwhile, so what they receive is what was published.

const SENDS = 40;
const RECIPIENTS = 5;

describe('a subscriber that joins while messages flow', () => {
  let sending: TestGateway;
  let watching: TestGateway;
  let joining: TestGateway;

  beforeAll(async () => {
    const shared = { REDIS_PREFIX: `sgw-test-${randomUUID()}`, SANDBOX_DELIVERY_DELAY_MS: '20' };
    sending = await startGateway(shared);
    const onlyWatching = { ...shared, DISPATCHER: 'off', LIVE_FEED_AUDIT_MS: '600000' };
    watching = await startGateway(onlyWatching, sending.databaseUrl);
    joining = await startGateway(onlyWatching, sending.databaseUrl);
  });
  afterAll(async () => {
    await joining.stop();
    await watching.stop();
    await sending.stop();
  });

  it('receives every update from where it joined to the last, in order, as the first subscriber does', async () => {
    const { apiKey, accountId } = await sending.account();
    const early = new Collector(wsClient(watching.wsUrl, apiKey), DeliveryUpdated);
    await watching.subscribersLive(accountId, 1);

    let late: typeof early | undefined;
    for (let i = 0; i < SENDS; i++) {
      const recipients = Array.from({ length: RECIPIENTS }, (_, k) => `+2557123${String(i * RECIPIENTS + k).padStart(4, '0')}1`);
      await gqlData(sending.graphqlUrl, apiKey, SendSms, { input: { message: `flow ${i}`, recipients } });
      if (i === SENDS / 4) {
        late = new Collector(wsClient(joining.wsUrl, apiKey), DeliveryUpdated);
        await joining.subscribersLive(accountId, 1);
      }
    }

    const all = SENDS * RECIPIENTS * 3; // QUEUED, SENT, DELIVERED (numbers ending in 1: the sandbox delivers them)
    await early.until((items) => items.length === all, `all ${all} updates at the first subscriber`);
    const cursors = early.items.map((u) => u.deliveryUpdated.cursor);
    const last = cursors.at(-1);
    await late!.until((items) => items.at(-1)?.deliveryUpdated.cursor === last, 'the last update at the late subscriber');

    const seen = late!.items.map((u) => u.deliveryUpdated.cursor);
    const from = cursors.indexOf(seen[0]!);
    expect(from).toBeGreaterThan(0);
    expect(seen).toEqual(cursors.slice(from));
    early.dispose();
    late!.dispose();
  });

  it('receives what is sent right after it joins, though the sending instance had just found nobody listening', async () => {
    const { apiKey, accountId } = await sending.account();
    // Nobody listens to this account yet: the sending instance finds so, and remembers it for a moment.
    await gqlData(sending.graphqlUrl, apiKey, SendSms, { input: { message: 'before', recipients: ['+255712340001'] } });
    const updates = new Collector(wsClient(joining.wsUrl, apiKey), DeliveryUpdated);
    await joining.subscribersLive(accountId, 1);

    const sent = await gqlData(sending.graphqlUrl, apiKey, SendSms, { input: { message: 'after', recipients: ['+255712340011'] } });
    const after = sent.sendSms.message.id;
    const ofAfter = () => updates.items.filter((u) => u.deliveryUpdated.delivery.message.id === after);
    await updates.until(() => ofAfter().some((u) => u.deliveryUpdated.delivery.status === 'DELIVERED'), 'the last update of the message sent after joining');
    expect(ofAfter().map((u) => u.deliveryUpdated.delivery.status)).toEqual(['QUEUED', 'SENT', 'DELIVERED']);
    updates.dispose();
  });
});
