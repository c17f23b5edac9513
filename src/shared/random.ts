/** A uniform draw in [0, 1). */
export type Random = () => number;

/** A seeded source of draws (mulberry32): the same seed, the same draws, for tests and demonstrations. */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Milliseconds since the epoch, as a part that tests can move by hand reads time (routing, the simulators). */
export type Clock = () => number;
