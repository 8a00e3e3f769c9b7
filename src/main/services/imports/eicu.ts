// eICU (patient, diagnosis, treatment, medication .csv.gz). Each ICU unit stay (patientunitstayid)
// is one visit; the stays of one person share `uniquepid`. eICU has no absolute times, only the
// hospital discharge year and minute offsets, so a person's stays are ordered by discharge year, then
// hospital stay (patienthealthsystemstayid), then time since hospital admission, then unitvisitnumber.
//
// hospitaladmitoffset is minutes from *unit* admission to hospital admission (negative: the hospital
// admission came first), so minutes since hospital admission = −hospitaladmitoffset: a later unit
// stay of the same hospital stay has a more negative offset.
import { parseStatedAge } from './age'
import { classifyEicuCodes } from './codes'
import { rejectMalformed, type ImportContext } from './context'

interface Stay {
  stayId: string
  hospitalStayId: string
  uniquePid: string
  sex: string | null
  year: number
  minutesSinceHospitalAdmission: number
  unitVisitNumber: number
  /** Age at the stay in whole years (top-coded: 90 is "> 89"); null when the file gives none. */
  age: number | null
  /** Line in patient.csv, for a rejection found when the stay is written. */
  line: number
}

export async function importEicu(ctx: ImportContext): Promise<void> {
  const visits = await importStays(ctx)
  await importDiagnoses(ctx, visits)
  await importTreatments(ctx, visits)
  await importMedications(ctx, visits)
}

const INTEGER = /^-?\d+$/

function sexOf(gender: string): string | null {
  const g = gender.trim().toLowerCase()
  if (g === 'female') return 'F'
  if (g === 'male') return 'M'
  return g === '' || g === 'unknown' ? null : gender.trim()
}

const pad = (value: number, width: number): string => String(value).padStart(width, '0')

async function importStays(ctx: ImportContext): Promise<Map<string, number>> {
  const file = ctx.layout.files.patient!
  // A person's stays must all be known to number their hospital stays, so stays are held until the
  // file is read (about 60 bytes each: 200k stays in the full eICU is ~12 MB).
  const byPerson = new Map<string, Stay[]>()
  const seen = new Set<string>()
  for await (const batch of ctx.progress.batches(file, 'Reading unit stays')) {
    rejectMalformed(ctx, file, batch)
    const w = batch.width
    for (let i = 0; i < batch.count; i++) {
      const f = (k: number): string => batch.fields[i * w + k]!.trim()
      const [stayId, hospitalStayId, uniquePid, gender, admitOffset, year, unitVisit] = [f(0), f(1), f(2), f(3), f(4), f(5), f(6)]
      const line = batch.lines[i]!
      const age = parseStatedAge(batch.fields[i * w + 7] ?? '', 'age')
      const problem =
        stayId === ''
          ? 'empty patientunitstayid'
          : uniquePid === ''
            ? 'empty uniquepid'
            : hospitalStayId === ''
              ? 'empty patienthealthsystemstayid'
              : !/^\d{4}$/.test(year)
                ? `hospitaldischargeyear "${year}" is not a year`
                : !INTEGER.test(admitOffset)
                  ? `hospitaladmitoffset "${admitOffset}" is not a whole number of minutes`
                  : !/^\d+$/.test(unitVisit)
                    ? `unitvisitnumber "${unitVisit}" is not a whole number`
                    : seen.has(stayId)
                      ? `duplicate patientunitstayid ${stayId}`
                      : 'problem' in age
                        ? age.problem
                        : null
      if (problem) {
        ctx.log.reject(file.displayName, line, problem)
        continue
      }
      seen.add(stayId)
      const stays = byPerson.get(uniquePid) ?? []
      stays.push({
        stayId,
        hospitalStayId,
        uniquePid,
        sex: sexOf(gender),
        year: Number(year),
        minutesSinceHospitalAdmission: -Number(admitOffset),
        unitVisitNumber: Number(unitVisit),
        age: 'age' in age ? age.age : null,
        line
      })
      byPerson.set(uniquePid, stays)
    }
  }
  ctx.progress.phase('Importing unit stays', file.displayName)
  const visits = new Map<string, number>()
  for (const [uniquePid, stays] of byPerson) {
    stays.sort(
      (a, b) =>
        a.year - b.year ||
        compareIds(a.hospitalStayId, b.hospitalStayId) ||
        a.minutesSinceHospitalAdmission - b.minutesSinceHospitalAdmission ||
        a.unitVisitNumber - b.unitVisitNumber
    )
    const patientId = ctx.store.patient(uniquePid, stays.find((s) => s.sex !== null)?.sex ?? null)
    const hospitalStayNumber = new Map<string, number>()
    for (const stay of stays) {
      const owner = ctx.store.storedForAnotherPatient(stay.stayId, patientId)
      if (owner !== null) {
        ctx.log.reject(
          file.displayName,
          stay.line,
          `unit stay patientunitstayid ${stay.stayId} is stored for another patient (uniquepid ${owner}), not ${uniquePid}: an import never moves visits between patients`
        )
        continue
      }
      if (!hospitalStayNumber.has(stay.hospitalStayId)) hospitalStayNumber.set(stay.hospitalStayId, hospitalStayNumber.size + 1)
      const visitId = ctx.store.visit({
        patientId,
        sourceVisitId: stay.stayId,
        admitTime: null,
        dischargeTime: null,
        // Zero-padded so text order is time order; the offset is shifted to stay non-negative.
        sortKey: [
          pad(stay.year, 4),
          stay.hospitalStayId.padStart(12, '0'),
          pad(stay.minutesSinceHospitalAdmission + 100_000_000, 9),
          pad(stay.unitVisitNumber, 4)
        ].join('|'),
        orderLabel: `${stay.year}, hospital stay ${hospitalStayNumber.get(stay.hospitalStayId)}, unit visit ${stay.unitVisitNumber}`,
        age: stay.age === null ? { age: null, unknown: 'patient.csv gives no age for the unit stay' } : { age: stay.age }
      })
      visits.set(stay.stayId, visitId)
    }
  }
  return visits
}

/** Numeric ids compare as numbers, others as text. */
function compareIds(a: string, b: string): number {
  if (INTEGER.test(a) && INTEGER.test(b)) return Number(a) - Number(b)
  return a < b ? -1 : a > b ? 1 : 0
}

const PRIORITY_RANK: Record<string, number> = { primary: 0, major: 1, other: 2 }

/** Per-visit running numbers, so codes keep the file's order within their priority. */
class SequenceCounter {
  private readonly next = new Map<number, number>()

  take(visitId: number): number {
    const n = this.next.get(visitId) ?? 0
    this.next.set(visitId, n + 1)
    return n
  }
}

async function importDiagnoses(ctx: ImportContext, visits: Map<string, number>): Promise<void> {
  const file = ctx.layout.files.diagnosis!
  const sequence = new SequenceCounter()
  const titled = new Set<string>()
  for await (const batch of ctx.progress.batches(file, 'Importing diagnoses')) {
    rejectMalformed(ctx, file, batch)
    const w = batch.width
    for (let i = 0; i < batch.count; i++) {
      const stayId = batch.fields[i * w]!.trim()
      const text = batch.fields[i * w + 1]!.trim()
      const cell = batch.fields[i * w + 2]!
      const priority = batch.fields[i * w + 3]!.trim().toLowerCase()
      const line = batch.lines[i]!
      const visitId = visits.get(stayId)
      if (visitId === undefined) {
        ctx.log.reject(file.displayName, line, `diagnosis for unknown unit stay patientunitstayid "${stayId}"`)
        continue
      }
      const { codes, invalid } = classifyEicuCodes(cell)
      if (codes.length === 0 && text === '') {
        ctx.log.reject(file.displayName, line, invalid.length > 0 ? `invalid ICD code "${invalid.join(', ')}" and no diagnosisstring` : 'diagnosis with neither ICD code nor diagnosisstring')
        continue
      }
      const rank = (PRIORITY_RANK[priority] ?? 3) * 1_000_000
      if (codes.length === 0) {
        const seq = rank + sequence.take(visitId)
        // No usable ICD code: the diagnosis string itself is the code, in system 'other'.
        if (invalid.length > 0) ctx.log.warn(file.displayName, line, `"${invalid.join(', ')}" is not an ICD-9-CM or ICD-10-CM diagnosis code; kept as code system 'other' by its diagnosisstring`)
        ctx.store.diagnosis(visitId, seq, 'other', text)
        if (!titled.has(`other\t${text}`)) {
          titled.add(`other\t${text}`)
          ctx.store.title('diagnosis', 'other', text, text, false)
        }
        continue
      }
      if (invalid.length > 0) ctx.log.warn(file.displayName, line, `ignored "${invalid.join(', ')}": not an ICD-9-CM or ICD-10-CM diagnosis code`)
      for (const { system, code } of codes) {
        ctx.store.diagnosis(visitId, rank + sequence.take(visitId), system, code)
        const key = `${system}\t${code}`
        if (text !== '' && !titled.has(key)) {
          titled.add(key)
          ctx.store.title('diagnosis', system, code, text, false)
        }
      }
    }
  }
}

async function importTreatments(ctx: ImportContext, visits: Map<string, number>): Promise<void> {
  const file = ctx.layout.files.treatment!
  const sequence = new SequenceCounter()
  const titled = new Set<string>()
  for await (const batch of ctx.progress.batches(file, 'Importing treatments')) {
    rejectMalformed(ctx, file, batch)
    for (let i = 0; i < batch.count; i++) {
      const stayId = batch.fields[i * 2]!.trim()
      const text = batch.fields[i * 2 + 1]!.trim()
      const line = batch.lines[i]!
      const visitId = visits.get(stayId)
      if (visitId === undefined) {
        ctx.log.reject(file.displayName, line, `treatment for unknown unit stay patientunitstayid "${stayId}"`)
        continue
      }
      if (text === '') {
        ctx.log.reject(file.displayName, line, 'empty treatmentstring')
        continue
      }
      // Treatments stand in for procedures; the hierarchical string is the code (system 'other').
      ctx.store.procedure(visitId, sequence.take(visitId), 'other', text)
      if (!titled.has(text)) {
        titled.add(text)
        ctx.store.title('procedure', 'other', text, text, false)
      }
    }
  }
}

async function importMedications(ctx: ImportContext, visits: Map<string, number>): Promise<void> {
  const file = ctx.layout.files.medication!
  // HICL sequence number → votes for the ATC code its named rows map to. 40% of the demo's rows have
  // a HICL but no drugname, and brand names ("LOPRESSOR") often miss the name tables: such rows take
  // the code their HICL's other rows agree on.
  const hiclVotes = new Map<string, Map<string, number>>()
  /** Names the resolver flagged non-drug (NS, syringes): never mapped through a shared HICL. */
  const nonDrugNames = new Set<string>()
  for await (const batch of ctx.progress.batches(file, 'Importing medications')) {
    rejectMalformed(ctx, file, batch)
    const w = batch.width
    for (let i = 0; i < batch.count; i++) {
      const stayId = batch.fields[i * w]!.trim()
      const name = batch.fields[i * w + 1]!.trim()
      const hicl = batch.fields[i * w + 2]!.trim()
      const cancelled = batch.fields[i * w + 3]!.trim().toLowerCase()
      const line = batch.lines[i]!
      const visitId = visits.get(stayId)
      if (visitId === undefined) {
        ctx.log.reject(file.displayName, line, `medication for unknown unit stay patientunitstayid "${stayId}"`)
        continue
      }
      if (cancelled === 'yes') {
        ctx.log.skip('medication order cancelled (drugordercancelled = Yes)')
        continue
      }
      if (name === '' && hicl === '') {
        ctx.log.reject(file.displayName, line, 'medication with neither drugname nor drughiclseqno')
        continue
      }
      const route = batch.fields[i * w + 4]?.trim() || null
      const drug = { rawName: name, ndc: null, gsn: null, otherId: hicl === '' ? null : hicl, route }
      const mapping = ctx.store.medication(visitId, drug, null, () => ctx.mapper.map({ name, route }))
      ctx.tally.count(mapping)
      if (mapping.outcome === 'non-drug') nonDrugNames.add(name)
      if (mapping.method !== 'unmapped' && hicl !== '') {
        // A combination votes with all its ingredients ("N02BE01+R05DA03").
        const code = mapping.ingredients ? mapping.ingredients.map((i) => i.atc5).join('+') : (mapping.atc5 ?? mapping.atc3!)
        const votes = hiclVotes.get(hicl) ?? new Map<string, number>()
        votes.set(code, (votes.get(code) ?? 0) + 1)
        hiclVotes.set(hicl, votes)
      }
    }
  }
  mapByHicl(ctx, hiclVotes, nonDrugNames)
}

/**
 * Maps still-unmapped rows of this run by their HICL where its named rows clearly agree (≥ 2/3 of votes).
 * Votes for route variants of one substance (oral A12BA01 and IV B05XA01 potassium chloride) count
 * together; the winning substance's most voted code is used. Rows whose name the resolver flagged
 * non-drug are never mapped this way.
 */
function mapByHicl(ctx: ImportContext, hiclVotes: Map<string, Map<string, number>>, nonDrugNames: ReadonlySet<string>): void {
  ctx.progress.phase('Mapping medications by HICL', null)
  const signature = (key: string): string =>
    key
      .split('+')
      .map((c) => ctx.mapper.substanceOf?.(c) ?? c)
      .sort()
      .join('+')
  const winners = new Map<string, string>()
  for (const [hicl, votes] of hiclVotes) {
    let total = 0
    const bySignature = new Map<string, { count: number; best: string; bestCount: number }>()
    for (const [code, count] of votes) {
      total += count
      const sig = signature(code)
      const entry = bySignature.get(sig) ?? { count: 0, best: code, bestCount: 0 }
      entry.count += count
      if (count > entry.bestCount || (count === entry.bestCount && code < entry.best)) {
        entry.best = code
        entry.bestCount = count
      }
      bySignature.set(sig, entry)
    }
    const top = [...bySignature.values()].sort((a, b) => b.count - a.count || a.best.localeCompare(b.best))[0]
    if (top && top.count * 3 >= total * 2) winners.set(hicl, top.best)
  }
  ctx.store.flush()
  const unmapped = ctx.db
    .prepare(
      `SELECT m.id, m.raw_name, m.other_id, m.order_count FROM medications m JOIN visits v ON v.id = m.visit_id
       WHERE v.import_run_id = ? AND m.mapping_method = 'unmapped' AND m.other_id IS NOT NULL`
    )
    .all(ctx.runId) as Array<{ id: number; raw_name: string; other_id: string; order_count: number }>
  const update = ctx.db.prepare(`UPDATE medications SET atc5 = ?, atc3 = ?, mapping_method = 'name' WHERE id = ?`)
  // The further ingredients of a combination: a copy of the row with the other code.
  const addIngredient = ctx.db.prepare(
    `INSERT INTO medications (visit_id, raw_name, ndc, gsn, other_id, atc5, atc3, mapping_method, start_time, order_count)
     SELECT visit_id, raw_name, ndc, gsn, other_id, ?, ?, 'name', start_time, order_count FROM medications WHERE id = ?`
  )
  for (const row of unmapped) {
    const key = winners.get(row.other_id)
    if (!key || nonDrugNames.has(row.raw_name)) continue
    const [first, ...rest] = key.split('+') as [string, ...string[]]
    update.run(first.length === 7 ? first : null, first.slice(0, 4), row.id)
    for (const code of rest) addIngredient.run(code, code.slice(0, 4), row.id)
    // Tallies count source rows; a stored row stands for order_count of them.
    ctx.tally.mappedBy.unmapped -= row.order_count
    ctx.tally.mappedBy.name += row.order_count
    ctx.mappedBySharedId += row.order_count
  }
}
