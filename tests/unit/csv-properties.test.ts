// Property-based tests of the CSV reader (fast-check), with a modest number of cases so they run in
// the unit suite; `npm run fuzz` runs the same properties (bench/fuzz.ts) with many more.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { firstInvalidUtf8 } from '../../src/main/services/imports/csv'
import { csvProperties } from '../properties/csv-properties'

/** Cases per property in the unit suite (npm run fuzz: 10,000+). */
const RUNS = 200

describe('CSV reader properties', () => {
  for (const property of csvProperties()) {
    it(property.name, () => {
      fc.assert(property.property, { numRuns: RUNS, seed: 15 })
    })
  }

  it('names the first byte TextDecoder refuses in forms a random generator rarely builds', () => {
    // overlong, surrogate, above U+10FFFF, overlong ASCII, a lone Latin-1 byte, a sequence cut short
    const cases: Array<[number[], number]> = [
      [[0x61, 0xe0, 0x80, 0x80], 1],
      [[0xed, 0xa0, 0x80], 0],
      [[0xf4, 0x90, 0x80, 0x80], 0],
      [[0xc0, 0xaf], 0],
      [[0x63, 0x61, 0x66, 0xe9], 3],
      [[0x61, 0xe2, 0x82], 1],
      [[0xe2, 0x82, 0xac, 0xf0, 0x9d, 0x84, 0x9e], 7]
    ]
    for (const [bytes, at] of cases) expect(firstInvalidUtf8(Uint8Array.from(bytes))).toBe(at)
  })
})
