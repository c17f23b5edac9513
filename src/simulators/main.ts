// `npm run simulators`: the four upstream providers, faked on loopback, one port each.
// Prints their base URLs and the environment that points `npm start` at them.
import { parseArgs } from 'node:util';
import { PROVIDER_MODULES } from '../providers/index.ts';
import type { ProviderModule } from '../providers/module.ts';
import { mixedOutcomes, scenarioProblem, type Scenario, type SimulatedOutcome, type SimulatorServer } from '../providers/simulator/server.ts';

const { values } = parseArgs({
  options: {
    'report-delay-ms': { type: 'string', default: '2000' },
    /** Mifumo on this port, MiM SMS on the next, then MTN Congo and NextSMS; 0 for any free ports. */
    'base-port': { type: 'string', default: '4101' },
    /** Where Mifumo's webhook (set on its side, in its dashboard) should call: the gateway. */
    gateway: { type: 'string', default: 'http://127.0.0.1:4000' },
    'callback-secret': { type: 'string', default: process.env.CALLBACK_SECRET },
    /** A mix of fates instead of the last-digit rule, e.g. delivered=90,failed=7,expired=2,rejected=1. */
    mix: { type: 'string' },
    /** Scenarios by provider, e.g. {"mifumo": {"changes": [{"atMs": 60000, "deliveryRatio": 0.6}]}} (see SimulatorServer). */
    scenario: { type: 'string' },
  },
});

function parseScenarios(text: string): Record<string, Scenario> {
  const scenarios = JSON.parse(text) as Record<string, unknown>;
  for (const [name, scenario] of Object.entries(scenarios)) {
    if (!PROVIDER_MODULES.some((module) => module.name === name)) throw new Error(`--scenario: "${name}" is not a provider`);
    const problem = scenarioProblem(scenario);
    if (problem) throw new Error(`--scenario ${name}: ${problem}`);
  }
  return scenarios as Record<string, Scenario>;
}

function parseMix(text: string): Partial<Record<SimulatedOutcome, number>> {
  return Object.fromEntries(
    text.split(',').map((part) => {
      const [name, weight] = part.split('=');
      const outcome = name?.trim().toUpperCase() as SimulatedOutcome;
      if (!['DELIVERED', 'FAILED', 'EXPIRED', 'REJECTED'].includes(outcome) || !(Number(weight) >= 0)) {
        throw new Error(`--mix: "${part}" is not outcome=weight (delivered, failed, expired, rejected)`);
      }
      return [outcome, Number(weight)];
    }),
  );
}

const basePort = Number(values['base-port']);
const scenarios = values.scenario ? parseScenarios(values.scenario) : {};
const simulators: Array<{ module: ProviderModule<unknown>; sim: SimulatorServer }> = [];
for (const [i, module] of PROVIDER_MODULES.entries()) {
  const sim = module.createSimulator(module.simulatorConfig, {
    port: basePort ? basePort + i : 0,
    reportDelayMs: Number(values['report-delay-ms']),
    ...(values.mix ? { outcomeFor: mixedOutcomes(parseMix(values.mix)) } : {}),
    scenario: scenarios[module.name],
  });
  await sim.start();
  if (values.gateway && values['callback-secret']) {
    sim.settings.webhookUrl = `${values.gateway.replace(/\/+$/, '')}/callbacks/${module.name}?token=${encodeURIComponent(values['callback-secret'])}`;
  }
  simulators.push({ module, sim });
}

const env: Record<string, string> = Object.assign(
  {},
  ...simulators.map(({ module, sim }) => module.environment(module.simulatorConfig, sim.url)),
  values['callback-secret'] ? { CALLBACK_SECRET: values['callback-secret'] } : {},
  // The simulators report within seconds; poll them as soon.
  { REPORT_POLL_AFTER_MS: values['report-delay-ms'] },
);
process.stdout.write(
  `${JSON.stringify(
    {
      simulators: Object.fromEntries(simulators.map(({ module, sim }) => [module.name, sim.url])),
      env,
      control:
        'POST <url>/__simulator/faults {"kind":"http500|http429|timeout|slow|malformed","times":1}; POST <url>/__simulator/scenario {"deliveryRatio":0.6,"reportDelayMs":2000,"changes":[{"atMs":60000,"deliveryRatio":1}]}; GET <url>/__simulator/requests',
    },
    null,
    2,
  )}\n`,
);
process.stderr.write(`\nTo send through them:\n  ${Object.entries(env).map(([k, v]) => `${k}=${v}`).join(' \\\n  ')} npm start\n`);
if (!values['callback-secret']) {
  process.stderr.write('\nMifumo reports by webhook: set CALLBACK_SECRET here and for npm start to receive them.\n');
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void Promise.all(simulators.map(({ sim }) => sim.stop())).then(() => process.exit(0));
  });
}
