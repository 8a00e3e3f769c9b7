/**
 * The decision thresholds a model manifest may carry and a saved threshold override may take. Thresholds
 * are chosen on validation data; one outside this range is damaged or forged (0.01 recommends all 136
 * classes of the shipped models, 0.99 almost none).
 */
export const THRESHOLD_RANGE = { min: 0.05, max: 0.95 } as const
