// Placeholder until this page lands.
import { notice } from '../dom.js';

export const TITLE = 'ingest';

export async function render(main) {
  main.append(notice('empty', 'This page is being built.'));
}
