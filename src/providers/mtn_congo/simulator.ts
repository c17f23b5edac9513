import type { SimulatorOptions, SimulatorServer } from '../simulator/server.ts';
import type { MtnCongoConfig } from './adapter.ts';

export function createMtnCongoSimulator(_config: MtnCongoConfig, _options: SimulatorOptions = {}): SimulatorServer {
  throw new Error('MTN Congo simulator: not implemented yet');
}
