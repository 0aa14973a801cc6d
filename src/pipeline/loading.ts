/** Reading what was staged, and loading it: a load takes exactly what a window's manifests list. */
import { TerminalError } from '../common/errors';
import { formatCount as count } from '../common/format';
import type { DatasetDefinition } from './datasets';
import { type Manifest, parseManifest, windowLayout } from './layout';
import type { StageStore, StepPorts } from './ports';
import { type Window, describeWindow } from './window';

/** The manifest of a completely staged window; an error if the window was never staged or is incomplete. */
export async function readManifest(stage: StageStore, dataset: DatasetDefinition, window: Window): Promise<Manifest> {
  const path = windowLayout(dataset.name, window).manifest;
  const text = await stage.readText(path);
  if (text === undefined) {
    throw new TerminalError(
      `${dataset.name} ${describeWindow(window)} is not completely staged in ${stage.description} (no ${path}); stage it again`,
    );
  }
  const manifest = parseManifest(text, path);
  if (
    manifest.dataset !== dataset.name ||
    manifest.window.start !== window.start ||
    manifest.window.stop !== window.stop
  ) {
    throw new TerminalError(
      `the manifest ${path} describes ${manifest.dataset} ${describeWindow(manifest.window)}, not this window`,
    );
  }
  return manifest;
}

/**
 * Creates the table if needed and upserts the windows in one statement, reading exactly the part files their
 * manifests list. A window that is not completely staged is refused, whoever asks for the load.
 */
export async function loadWindows(
  ports: Pick<StepPorts, 'stage' | 'warehouse' | 'progress'>,
  dataset: DatasetDefinition,
  windows: readonly Window[],
): Promise<Manifest[]> {
  const manifests: Manifest[] = [];
  for (const window of windows) manifests.push(await readManifest(ports.stage, dataset, window));
  const staged = manifests.reduce((sum, manifest) => sum + manifest.staged, 0);
  const span = windows.length === 1 ? describeWindow(windows[0] as Window) : `${windows.length} windows`;
  ports.progress(`loading ${count(staged)} rows of ${span} into ${ports.warehouse.description}`);
  await ports.warehouse.ensureTable(dataset);
  await ports.warehouse.loadWindows(
    dataset,
    manifests.map((manifest) => ({ window: manifest.window, parts: manifest.parts })),
    ports.stage,
  );
  return manifests;
}
