/** A clock that moves only when told (routing's window, the simulators' scenarios), starting at the start of a minute. */
export function manualClock(start = Date.UTC(2026, 11, 7, 8, 0, 0)) {
  let now = start;
  const clock = () => now;
  clock.advance = (ms: number) => {
    now += ms;
  };
  return clock;
}
