import { useNavigation } from './navigation'
import { APP_VIEWS } from './views'

export function App() {
  const view = useNavigation((state) => state.view)
  const go = useNavigation((state) => state.go)
  const current = APP_VIEWS.find((candidate) => candidate.id === view) ?? APP_VIEWS[0]
  const Current = current?.Component

  return (
    <div className="app">
      <header className="app-header">
        <div className="brand">
          MedRec <span className="brand-sub">Desktop</span>
        </div>
        <nav aria-label="Main">
          <ul className="main-nav">
            {APP_VIEWS.map((entry) => (
              <li key={entry.id}>
                <button
                  type="button"
                  className="nav-button"
                  aria-current={entry.id === view ? 'page' : undefined}
                  onClick={() => go(entry.id)}
                >
                  {entry.label}
                </button>
              </li>
            ))}
          </ul>
        </nav>
      </header>
      <main className="app-main">{Current ? <Current /> : null}</main>
      <footer className="app-footer">
        Decision support only: suggestions and warnings complement, and never replace, the judgement of the
        treating clinician and pharmacist. Works offline; no patient data leaves this computer.
      </footer>
    </div>
  )
}
