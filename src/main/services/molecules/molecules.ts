import type { ClassMolecules, MoleculeDrawing } from '../../../shared/domain/drug'
import type { DrugCatalog } from '../drugs/catalog'
// Molecule drawings: RDKit (the @rdkit/rdkit WebAssembly build) runs here, in the main process, and the
// renderer receives SVG text that it shows as an <img> data URL. Why here and not in the renderer:
// running WebAssembly in the renderer would need 'wasm-unsafe-eval' in its Content-Security-Policy and a
// 7 MB module inside the page that handles patient data; in Node it needs neither, and an SVG shown
// through <img> cannot run scripts or fetch anything. The SVG is still checked (sanitiseSvg) so that
// nothing active ever reaches the page, whatever a SMILES string contains.

interface RDKitMol {
  get_svg_with_highlights(details: string): string
  delete(): void
}

interface RDKitModule {
  get_mol(input: string): RDKitMol | null
  version(): string
}

let loading: Promise<RDKitModule> | null = null

/** Loads RDKit once per process (about 0.7 s). */
export function loadRDKit(): Promise<RDKitModule> {
  loading ??= import('@rdkit/rdkit').then(async (module) => {
    const factory = (module as unknown as { default: () => Promise<RDKitModule> }).default
    return factory()
  })
  loading.catch(() => {
    loading = null // a failed load may be retried
  })
  return loading
}

/** Elements and attributes that could make an SVG active or reach outside it. */
const FORBIDDEN_SVG = /<\s*(script|foreignObject|iframe|object|embed|image|use|a|animate|set)\b|\bon[a-z]+\s*=|(?:xlink:)?href\s*=|javascript:|url\s*\(|@import/i

/**
 * Returns the SVG without its XML prolog and comments, or throws when it holds anything active.
 * RDKit draws with paths, text and rects only, so a refusal means the input was not what RDKit makes.
 */
export function sanitiseSvg(svg: string): string {
  const body = svg
    .replace(/<\?xml[^>]*\?>/g, '')
    .replace(/<!--[\s\S]*?-->/g, '')
    .trim()
  if (!body.startsWith('<svg') || !body.endsWith('</svg>')) throw new Error('not a single SVG element')
  if (FORBIDDEN_SVG.test(body)) throw new Error('the drawing contains active or external content')
  return body
}

export interface DrawOptions {
  width?: number
  height?: number
}

/** Draws each SMILES; a SMILES RDKit cannot parse gives svg null and the reason, never an exception. */
export async function drawMolecules(smilesList: readonly string[], options: DrawOptions = {}): Promise<MoleculeDrawing[]> {
  const rdkit = await loadRDKit()
  const details = JSON.stringify({ width: options.width ?? 260, height: options.height ?? 190, bondLineWidth: 1.5, addStereoAnnotation: true })
  return smilesList.map((smiles) => {
    let mol: RDKitMol | null = null
    try {
      mol = rdkit.get_mol(smiles)
      if (!mol) return { smiles, svg: null, error: 'RDKit cannot parse this SMILES string.' }
      return { smiles, svg: sanitiseSvg(mol.get_svg_with_highlights(details)), error: null }
    } catch (error) {
      return { smiles, svg: null, error: `The structure could not be drawn: ${error instanceof Error ? error.message : String(error)}.` }
    } finally {
      mol?.delete()
    }
  })
}

/** Up to `limit` drawings of the class's member molecules, with the class's name and the structures' source. */
export async function classMolecules(catalog: DrugCatalog, atc3: string, limit: number): Promise<ClassMolecules> {
  const code = atc3.toUpperCase()
  const smiles = catalog.smiles(code)
  return {
    atc3: code,
    name: catalog.name(code),
    total: smiles.length,
    molecules: await drawMolecules(smiles.slice(0, limit)),
    source: catalog.structureSource()
  }
}
