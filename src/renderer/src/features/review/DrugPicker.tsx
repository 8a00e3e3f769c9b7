// Finds a drug (ATC level 5) or class (level 3) by name, alias or code, as an ARIA combobox:
// type, ↓/↑ to move, Enter to add, Escape to close.
import { atcName } from '../../format'
import type { DrugSearchHit } from '../../../../shared/domain/drug'
import { useEffect, useId, useState, type KeyboardEvent } from 'react'
import { api, errorText } from '../../api'

const SEARCH_DELAY_MS = 200

export function DrugPicker({ onPick, exclude }: { onPick(hit: DrugSearchHit): void; exclude: ReadonlySet<string> }) {
  const [text, setText] = useState('')
  const [hits, setHits] = useState<DrugSearchHit[]>([])
  const [status, setStatus] = useState<'idle' | 'loading' | 'ready' | 'error'>('idle')
  const [error, setError] = useState<string | null>(null)
  const [active, setActive] = useState(0)
  const [open, setOpen] = useState(false)
  const listId = useId()

  useEffect(() => {
    const query = text.trim()
    if (query.length === 0) {
      setHits([])
      setStatus('idle')
      return
    }
    let current = true
    setStatus('loading')
    const timer = setTimeout(() => {
      api()['drugs:search']({ text: query, limit: 12 })
        .then((found) => {
          if (!current) return
          setHits(found)
          setActive(0)
          setStatus('ready')
        })
        .catch((e: unknown) => {
          if (!current) return
          setError(errorText(e))
          setStatus('error')
        })
    }, SEARCH_DELAY_MS)
    return () => {
      current = false
      clearTimeout(timer)
    }
  }, [text])

  const pick = (hit: DrugSearchHit | undefined) => {
    if (!hit || exclude.has(hit.code)) return
    onPick(hit)
    setText('')
    setHits([])
    setOpen(false)
  }

  const onKeyDown = (event: KeyboardEvent<HTMLInputElement>) => {
    if (event.key === 'ArrowDown') {
      event.preventDefault()
      setOpen(true)
      setActive((i) => Math.min(i + 1, Math.max(hits.length - 1, 0)))
    } else if (event.key === 'ArrowUp') {
      event.preventDefault()
      setActive((i) => Math.max(i - 1, 0))
    } else if (event.key === 'Enter') {
      event.preventDefault()
      pick(hits[active])
    } else if (event.key === 'Escape') {
      setOpen(false)
    }
  }

  const expanded = open && text.trim().length > 0
  const optionId = (index: number) => `${listId}-option-${index}`
  return (
    <div className="drug-picker">
      <label htmlFor={`${listId}-input`} className="field-label">
        Add a drug (name, ATC code or class)
      </label>
      <input
        id={`${listId}-input`}
        className="search-input"
        role="combobox"
        aria-expanded={expanded}
        aria-controls={listId}
        aria-autocomplete="list"
        aria-activedescendant={expanded && hits[active] ? optionId(active) : undefined}
        placeholder="e.g. warfarin, acetaminophen, B01AA03, N02B"
        autoComplete="off"
        spellCheck={false}
        value={text}
        onChange={(event) => {
          setText(event.target.value)
          setOpen(true)
        }}
        onKeyDown={onKeyDown}
        onBlur={() => setTimeout(() => setOpen(false), 150)}
        onFocus={() => setOpen(true)}
      />
      {expanded ? (
        <ul className="drug-options" role="listbox" id={listId} aria-label="Matching drugs and classes">
          {status === 'loading' && hits.length === 0 ? <li className="drug-option-note">Searching…</li> : null}
          {status === 'error' ? <li className="drug-option-note form-error">{error}</li> : null}
          {status === 'ready' && hits.length === 0 ? <li className="drug-option-note">No drug or class matches “{text.trim()}”.</li> : null}
          {hits.map((hit, index) => (
            <li
              key={hit.code}
              id={optionId(index)}
              role="option"
              aria-selected={index === active}
              aria-disabled={exclude.has(hit.code)}
              className={`drug-option${index === active ? ' is-active' : ''}${exclude.has(hit.code) ? ' is-added' : ''}`}
              onMouseDown={(event) => event.preventDefault()}
              onClick={() => pick(hit)}
            >
              <code className="code">{hit.code}</code> <span className="drug-option-name">{hit.level === 3 ? atcName(hit.name) : hit.name}</span>
              {hit.matchedAlias ? <span className="muted"> (also “{hit.matchedAlias}”)</span> : null}
              <span className="drug-option-class">{hit.level === 3 ? 'class' : `${hit.atc3} ${atcName(hit.atc3Name)}`}</span>
              {exclude.has(hit.code) ? <span className="muted"> — added</span> : null}
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  )
}
