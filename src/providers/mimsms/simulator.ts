import type { SimulatorOptions, SimulatorServer } from '../simulator/server.ts';
import type { MimsmsConfig } from './adapter.ts';

export function createMimsmsSimulator(_config: MimsmsConfig, _options: SimulatorOptions = {}): SimulatorServer {
  throw new Error('MiM SMS simulator: not implemented yet');
}
