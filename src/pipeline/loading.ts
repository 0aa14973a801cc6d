/** Reading what was staged, and loading it: a load takes exactly what a window's manifests list. */
import { TerminalError } from '../common/errors';
import { formatCount as count } from '../common/format';
import type { DatasetDefinition } from './datasets';
import { type Manifest, isPartFile, parseManifest, windowLayout } from './layout';
import type { StageStore, StepPorts } from './ports';
import { type Window, describeWindow } from './window';

/**
 * The manifest of a completely staged window; an error if the window was never staged or is incomplete. Its paths end
 * up in every engine's SQL, so they are trusted only as far as the layout: each part must be the layout's own name
 * inside the window's own prefix, and the quarantine file the window's own. This is the one place that checks them.
 */
export async function readManifest(stage: StageStore, dataset: DatasetDefinition, window: Window): Promise<Manifest> {
  const layout = windowLayout(dataset.name, window);
  const path = layout.manifest;
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
  const stranger = [
    ...manifest.parts.filter((part) => !isPartFile(layout, part)),
    ...(manifest.quarantineFile !== null && manifest.quarantineFile !== layout.quarantine
      ? [manifest.quarantineFile]
      : []),
  ];
  if (stranger.length > 0) {
    throw new TerminalError(
      `the manifest ${path} lists ${JSON.stringify(stranger[0]).slice(0, 200)}, which is not a file of this window (only ${layout.prefix}/part-NNNNN.jsonl and ${layout.quarantine}); nothing was loaded; stage the window again`,
    );
  }
  return manifest;
}

/**
 * Creates the table if needed and upserts the windows in one statement, reading exactly the part files their
 * manifests list. A window that is not completely staged is refused, whoever asks for the load.
 */
export async function loadWindows(
  ports: Pick<StepPorts, 'stage' | 'warehouse' | 'progress' | 'signal'>,
  dataset: DatasetDefinition,
  windows: readonly Window[],
): Promise<Manifest[]> {
  const manifests: Manifest[] = [];
  for (const window of windows) manifests.push(await readManifest(ports.stage, dataset, window));
  const staged = manifests.reduce((sum, manifest) => sum + manifest.staged, 0);
  const span = windows.length === 1 ? describeWindow(windows[0] as Window) : `${windows.length} windows`;
  ports.progress(`loading ${count(staged)} rows of ${span} into ${ports.warehouse.description}`);
  await ports.warehouse.ensureTable(dataset, ports.signal);
  await ports.warehouse.loadWindows(
    dataset,
    manifests.map((manifest) => ({ window: manifest.window, parts: manifest.parts })),
    ports.stage,
    ports.signal,
  );
  return manifests;
}
