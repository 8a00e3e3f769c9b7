// Tests trust the TEST-ONLY key (tests/fixtures/keys/) that signs the fixture models, in place of the
// hospital's own key folder; the project key in resources/trusted-keys/ is trusted as in production.
// Child processes started by tests (the CLI) inherit it. Never set this outside tests.
import { fileURLToPath } from 'node:url'

process.env.MEDREC_TRUSTED_KEYS = fileURLToPath(new URL('./fixtures/keys/trusted', import.meta.url))
