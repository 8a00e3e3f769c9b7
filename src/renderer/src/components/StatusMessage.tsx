// Loading, empty and error states, announced to screen readers.
import type { ReactNode } from 'react'

export function Loading({ children }: { children: ReactNode }) {
  return (
    <div className="state state-loading" role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" />
      {children}
    </div>
  )
}

export function Empty({ children }: { children: ReactNode }) {
  return (
    <div className="state state-empty" role="status">
      {children}
    </div>
  )
}

export function ErrorState({ title, message, onRetry }: { title: string; message: string; onRetry?: () => void }) {
  return (
    <div className="state state-error" role="alert">
      <strong>{title}</strong>
      <p className="state-detail">{message}</p>
      {onRetry ? (
        <button type="button" className="button" onClick={onRetry}>
          Try again
        </button>
      ) : null}
    </div>
  )
}

/** An action's failure beside its form, e.g. "The review was not recorded: <why>"; nothing when there is no error. */
export function FormError({ error, prefix }: { error: string | null | undefined; prefix?: string }) {
  if (!error) return null
  return (
    <p className="form-error" role="alert">
      {prefix ? `${prefix}: ` : null}
      {error}
    </p>
  )
}
