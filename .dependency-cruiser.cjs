// The rules of the house (docs/architecture.md), checked by `npm run lint` with dependency-cruiser.
// Layers, top to bottom: main/index.ts + ipc.ts (Electron) → main/api (dispatcher, handlers) → main/services
// (open-services.ts assembles the domains) → src/shared (api contract, domain types). The renderer sits beside
// main and reaches it only through window.api; the CLI sits beside main/api and uses the services.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'An import loop makes a module load half-initialised and hides which one owns what.',
      from: { path: '^src/' },
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } }
    },
    {
      name: 'services-without-electron',
      severity: 'error',
      comment: 'Services, the CLI and the shared contract run in plain Node (CLI, tests, e2e host): no electron.',
      from: { path: '^src/(main/services|main/api|cli|shared)/' },
      to: { path: '^(electron$|node_modules/electron/)', dependencyTypesNot: ['type-only'] }
    },
    {
      name: 'renderer-only-through-window-api',
      severity: 'error',
      comment: 'The renderer talks to the app only through window.api: no main, preload or CLI code, no Node or native modules.',
      from: { path: '^src/renderer/' },
      to: {
        pathNot: ['^src/renderer/', '^src/shared/', '^node_modules/(react|react-dom|zustand|d3-[a-z]+|scheduler)/', '^node_modules/@types/'],
        dependencyTypesNot: ['type-only']
      }
    },
    {
      name: 'renderer-no-runtime-contract',
      severity: 'error',
      comment: 'The zod schemas stay in main: the renderer takes the contract as types, plus the error reader.',
      from: { path: '^src/renderer/' },
      to: { path: '^src/shared/api/(?!(client|methods|errors)\\.ts$)[^/]+\\.ts$', dependencyTypesNot: ['type-only'] }
    },
    {
      name: 'preload-only-the-client',
      severity: 'error',
      comment: 'The sandboxed preload bundles the API client and the method list only.',
      from: { path: '^src/preload/' },
      to: { pathNot: ['^src/shared/api/(client|methods|errors)\\.ts$', '^electron$', '^node_modules/electron/'], dependencyTypesNot: ['type-only'] }
    },
    {
      name: 'shared-is-the-bottom',
      severity: 'error',
      comment: 'The contract and the domain types depend on nothing of the app.',
      from: { path: '^src/shared/' },
      to: { path: '^src/(main|renderer|cli|preload)/' }
    },
    {
      name: 'shared-domain-below-api',
      severity: 'error',
      comment: "A domain's types live in src/shared/domain; the API contract builds on them, never the reverse.",
      from: { path: '^src/shared/domain/' },
      to: { path: '^src/shared/api/' }
    },
    {
      name: 'services-below-api-and-cli',
      severity: 'error',
      comment: 'Services never reach up into the API layer, the CLI or the Electron entry.',
      from: { path: '^src/main/services/' },
      to: { path: '^src/(main/api/|main/index\\.ts|main/ipc\\.ts|cli/)' }
    },
    {
      name: 'api-below-electron-entry',
      severity: 'error',
      from: { path: '^src/main/api/' },
      to: { path: '^src/main/(index|ipc)\\.ts$' }
    },
    {
      name: 'domains-do-not-assemble-services',
      severity: 'error',
      comment: 'open-services.ts is the one place that assembles the services; a domain may name its type only.',
      from: { path: '^src/main/services/', pathNot: '^src/main/services/(open-services|interop/cds-hooks/index)\\.ts$' },
      to: { path: '^src/main/services/open-services\\.ts$', dependencyTypesNot: ['type-only'] }
    },
    {
      name: 'every-model-run-through-inference',
      severity: 'error',
      comment: 'onnxruntime sessions are created and run only in services/inference (provider choice, fallback, release).',
      from: { path: '^src/', pathNot: '^src/main/services/inference/' },
      to: { path: '^node_modules/onnxruntime-node/', dependencyTypesNot: ['type-only'] }
    },
    {
      name: 'native-store-only-in-services',
      severity: 'error',
      comment: 'SQLite is opened by the services (db/, drugs/ knowledge base, imports/ staging) — not by the API or the CLI directly.',
      from: { path: '^src/(main/api|cli|shared|renderer|preload)/' },
      to: { path: '^node_modules/better-sqlite3/', dependencyTypesNot: ['type-only'] }
    }
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    includeOnly: '^(src|node_modules)/',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.node.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'], extensions: ['.ts', '.tsx', '.js', '.mjs', '.cjs', '.json'] },
    reporterOptions: { text: { highlightFocused: true } }
  }
}
