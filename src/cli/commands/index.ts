// The command list. Add one line per command; its module is imported only when it runs.
import { registerCommand } from '../main'

void registerCommand
registerCommand('ddi', 'check drugs for interactions by severity, with sources and coverage', async () => (await import('./ddi')).command)
