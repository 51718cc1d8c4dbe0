/**
 * The one shape of every `now` option in the library (token functions, HTTP middleware, stores):
 * a function returning the current time in Unix seconds. A function, not a number, because a
 * store or a middleware lives longer than one moment.
 */
export type Clock = () => number;

/** The system clock, in (fractional) Unix seconds. */
export const systemClock: Clock = () => Date.now() / 1000;
