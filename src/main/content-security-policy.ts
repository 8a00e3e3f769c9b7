// The renderer's Content-Security-Policy. The build writes it into index.html as a meta tag
// (electron.vite.config.ts) and main sends it as a response header too. Only the app's own files:
// no remote scripts, styles, frames or connections, no inline scripts, no plugins.
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-src 'none'"
].join('; ')

/**
 * `electron-vite dev` only: the Vite dev server needs an inline React refresh preamble and a
 * WebSocket for hot reload. Never used for a built app.
 */
export function devContentSecurityPolicy(devServerUrl: string): string {
  const { host } = new URL(devServerUrl)
  return CONTENT_SECURITY_POLICY.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'")
    .replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
    .replace("connect-src 'self'", `connect-src 'self' ws://${host}`)
}
