/**
 * "Fails fast": a call that did not wait on the server (an open circuit, a known-dead connection) returns
 * within this — far below any command timeout these tests use (≥ 250 ms), yet above the event-loop stalls
 * of a loaded CI machine (16 ms seen while the whole suite ran on 2 cores; 5 ms was too tight).
 */
export const FAST_MS = 50
