// Signs model folders for release (the same as `medrec models sign`): writes signature.json, Ed25519 over the
// sha256 of every file in the folder (src/main/services/models/signature.ts). The private key never lives in
// the repository: give its path with --key or MEDREC_SIGNING_KEY.
//
//   npm run sign-models -- --key /secure/medrec-signing-key.pem               # every folder under models/
//   npm run sign-models -- --key key.pem models/logistic models/nla-mmr       # only these
//   npm run sign-models -- --key key.pem --public-key > resources/trusted-keys/medrec-project.pem
import { main } from '../src/cli/main'

process.exitCode = await main(['models', 'sign', ...process.argv.slice(2)])
