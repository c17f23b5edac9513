// Loaded into the Prisma CLI when the gateway applies migrations. The CLI's WebAssembly schema
// engine starts a 10 s lock-timeout timer and never clears it, so the process would linger 10 s
// after its work is done; an unref'd timer still fires if the process is alive, but no longer
// keeps it alive.
const originalSetTimeout = globalThis.setTimeout;
globalThis.setTimeout = function setTimeoutUnrefLong(callback, ms, ...args) {
  const timer = originalSetTimeout(callback, ms, ...args);
  if (typeof ms === 'number' && ms >= 5000) timer.unref();
  return timer;
};
