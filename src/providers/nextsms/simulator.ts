import type { SimulatorOptions, SimulatorServer } from '../simulator/server.ts';
import type { NextsmsConfig } from './adapter.ts';

export function createNextsmsSimulator(_config: NextsmsConfig, _options: SimulatorOptions = {}): SimulatorServer {
  throw new Error('NextSMS simulator: not implemented yet');
}
