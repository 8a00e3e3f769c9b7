// Progress of a long task. The API answers once, with no intermediate progress, so the bar is
// indeterminate and shows the elapsed time; the label says what is being computed.
import { useEffect, useState } from 'react'

export function ProgressBar({ label, detail }: { label: string; detail?: string }) {
  const [started] = useState(() => Date.now())
  const [elapsed, setElapsed] = useState(0)
  useEffect(() => {
    const timer = setInterval(() => setElapsed(Date.now() - started), 200)
    return () => clearInterval(timer)
  }, [started])
  return (
    <div className="progress" role="status" aria-live="polite">
      <div className="progress-label">
        <span>{label}</span>
        <span className="progress-elapsed">{(elapsed / 1000).toFixed(1)} s</span>
      </div>
      <div className="progress-track" role="progressbar" aria-label={label} aria-valuetext={`${(elapsed / 1000).toFixed(0)} seconds elapsed`}>
        <div className="progress-indeterminate" />
      </div>
      {detail ? <p className="progress-detail">{detail}</p> : null}
    </div>
  )
}
