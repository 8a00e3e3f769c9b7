// MIMIC times are "YYYY-MM-DD HH:MM:SS" (shifted into 2100-2210); some exports write a 'T' or drop
// the seconds, and MIMIC-III's STARTDATE has no time at all. They are stored as ISO 8601 text
// "YYYY-MM-DDTHH:MM:SS", which sorts chronologically as text (the visits' sort_key relies on that).

const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?$/
const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

const isDigit = (value: string, i: number): boolean => {
  const c = value.charCodeAt(i)
  return c >= 48 && c <= 57
}

/** ISO "YYYY-MM-DDTHH:MM:SS", or null when `value` is not a valid date or date-time. */
export function parseSourceTime(value: string): string | null {
  // Fast path for the common "YYYY-MM-DD HH:MM:SS" (tens of millions of prescription rows).
  if (value.length === 19 && value.charCodeAt(10) === 32 && value.charCodeAt(4) === 45 && value.charCodeAt(7) === 45) {
    if (value.charCodeAt(13) === 58 && value.charCodeAt(16) === 58) {
      let digits = true
      for (const i of DIGIT_POSITIONS) if (!isDigit(value, i)) digits = false
      if (digits && validParts(value)) return `${value.slice(0, 10)}T${value.slice(11)}`
    }
    return null
  }
  const m = DATE_TIME.exec(value)
  if (!m) return null
  const [, year, month, day, hour = '00', minute = '00', second = '00'] = m
  const monthIndex = Number(month) - 1
  const dayNumber = Number(day)
  if (monthIndex < 0 || monthIndex > 11 || dayNumber < 1 || dayNumber > DAYS_IN_MONTH[monthIndex]!) return null
  if (monthIndex === 1 && dayNumber === 29 && !isLeapYear(Number(year))) return null
  if (Number(hour) > 23 || Number(minute) > 59 || Number(second) > 59) return null
  return `${year}-${month}-${day}T${hour}:${minute}:${second}`
}

const DIGIT_POSITIONS = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]

const twoDigits = (value: string, i: number): number => (value.charCodeAt(i) - 48) * 10 + value.charCodeAt(i + 1) - 48

function validParts(value: string): boolean {
  const month = twoDigits(value, 5)
  const day = twoDigits(value, 8)
  if (month < 1 || month > 12 || day < 1 || day > DAYS_IN_MONTH[month - 1]!) return false
  if (month === 2 && day === 29 && !isLeapYear(Number(value.slice(0, 4)))) return false
  return twoDigits(value, 11) <= 23 && twoDigits(value, 14) <= 59 && twoDigits(value, 17) <= 59
}

function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0
}

/**
 * For a value that is not a valid date but would be with month and day swapped ("2170-20-11"), the
 * swapped reading; else null. Such a value means the export writes YYYY-DD-MM, which also misreads
 * every date whose day is 12 or less without any sign, so the importers stop on the first one.
 */
export function validOnlySwapped(value: string): string | null {
  if (parseSourceTime(value) !== null) return null
  const m = DATE_TIME.exec(value)
  if (!m) return null
  return parseSourceTime(`${value.slice(0, 5)}${m[3]}-${m[2]}${value.slice(10)}`)
}
