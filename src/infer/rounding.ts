/** `x` to `places` decimals. */
export const roundTo = (x: number, places: number): number => Math.round(x * 10 ** places) / 10 ** places;

/** Scores and thresholds as tagbooru writes them (JSON, CSV, the HTTP API, tagger.json): four decimals. */
export const roundScore = (x: number): number => roundTo(x, 4);
