import { fileURLToPath } from 'node:url'
import react from '@vitejs/plugin-react'
import { defineConfig, type RendererViteConfig } from 'electron-vite'
import type { Plugin } from 'vite'
import { CONTENT_SECURITY_POLICY } from './src/main/content-security-policy'

/** Writes the CSP into the built index.html; under `electron-vite dev` main sends a header instead. */
function contentSecurityPolicyMeta(): Plugin {
  return {
    name: 'medrec-content-security-policy',
    apply: 'build',
    transformIndexHtml: () => [
      { tag: 'meta', attrs: { 'http-equiv': 'Content-Security-Policy', content: CONTENT_SECURITY_POLICY }, injectTo: 'head-prepend' }
    ]
  }
}

/** The renderer build, shared with the e2e test host (tests/e2e/host.ts) so it serves what the app ships. */
export const rendererConfig = {
  root: fileURLToPath(new URL('./src/renderer', import.meta.url)),
  base: './',
  plugins: [react(), contentSecurityPolicyMeta()],
  build: {
    rollupOptions: { input: fileURLToPath(new URL('./src/renderer/index.html', import.meta.url)) }
  }
} satisfies RendererViteConfig

export default defineConfig({
  main: {
    build: {
      // Two entries: the main process, and the CSV reading thread it starts for large imports
      // (imports/csv-off-thread.ts looks for csv-worker.js beside the bundle).
      lib: {
        entry: {
          index: fileURLToPath(new URL('./src/main/index.ts', import.meta.url)),
          'csv-worker': fileURLToPath(new URL('./src/main/services/imports/csv-worker.ts', import.meta.url))
        }
      },
      // Native modules are loaded from node_modules at run time, never bundled.
      externalizeDeps: true,
      rollupOptions: { external: ['better-sqlite3', 'onnxruntime-node'] }
    }
  },
  preload: {
    build: {
      // A sandboxed preload can neither import ES modules nor require node_modules: bundle
      // everything into one CommonJS file.
      externalizeDeps: false,
      rollupOptions: { output: { format: 'cjs', entryFileNames: '[name].cjs' } }
    }
  },
  renderer: rendererConfig
})
