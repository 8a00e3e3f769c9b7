// Argument pieces several domains' schemas share: a patient id, a model id, a threshold, an ATC class, a drug.
import { z } from 'zod'
import { THRESHOLD_RANGE } from '../domain/manifest'

export const patientIdSchema = z.number().int().positive()
export const modelIdSchema = z.string().trim().min(1).max(100).regex(/^[A-Za-z0-9._-]+$/, 'a model id is letters, digits, ".", "_" or "-"')
export const thresholdSchema = z.number().gt(0, 'the threshold must lie strictly between 0 and 1').lt(1, 'the threshold must lie strictly between 0 and 1')
/** A saved override applies to every later recommendation: it must be a threshold a model could carry. */
export const thresholdOverrideSchema = z
  .number()
  .min(THRESHOLD_RANGE.min, `a saved threshold override lies between ${THRESHOLD_RANGE.min} and ${THRESHOLD_RANGE.max}`)
  .max(THRESHOLD_RANGE.max, `a saved threshold override lies between ${THRESHOLD_RANGE.min} and ${THRESHOLD_RANGE.max}`)
export const ddiRateSchema = z.number().min(0).max(1)
export const atc3Schema = z
  .string()
  .trim()
  .toUpperCase()
  .regex(/^[A-Z]\d\d[A-Z]$/, 'an ATC level-3 class is a letter, two digits and a letter, e.g. N02B')
/** A drug as the pharmacist enters it: an ATC code or a name. */
export const drugInputSchema = z.string().trim().min(1, 'an empty drug was given').max(120)
