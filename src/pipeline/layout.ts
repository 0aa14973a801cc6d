import { z } from 'zod';
import type { QuarantineReason } from './records';
import { type Window, windowKey } from './window';

/**
 * Where a window's files go. Deterministic, so a rerun writes over the same files:
 *   stage/<dataset>/<start>_<stop>/part-00000.jsonl   staged rows (JSON Lines)
 *   stage/<dataset>/<start>_<stop>/_quarantine.jsonl  rejected records with their reasons
 *   stage/<dataset>/<start>_<stop>/_manifest.json     counts; written last: a window without one is incomplete
 * The leading underscore makes Spark's file listing (and so Databricks `read_files`) skip those two.
 */
export interface WindowLayout {
  readonly prefix: string;
  readonly manifest: string;
  readonly quarantine: string;
  part(index: number): string;
}

/** A part file's name inside its window's folder: the one place the pattern is spelled. */
export const PART_FILE = /^part-\d{5}\.jsonl$/;

/** True when `path` is one of the window's part files: the layout's own name, directly inside its prefix. */
export function isPartFile(layout: WindowLayout, path: string): boolean {
  return path.startsWith(`${layout.prefix}/`) && PART_FILE.test(path.slice(layout.prefix.length + 1));
}

/**
 * The part's file name when `path` is one of the window's part files (`<prefix>/part-NNNNN.jsonl`); an
 * error otherwise, since a manifest's paths end up in SQL.
 */
export function partFileName(layout: WindowLayout, path: string): string {
  if (!isPartFile(layout, path)) throw new Error(`"${path}" is not a part file of ${layout.prefix}`);
  return path.slice(layout.prefix.length + 1);
}

export function windowLayout(datasetName: string, window: Window): WindowLayout {
  const prefix = `stage/${datasetName}/${windowKey(window)}`;
  return {
    prefix,
    manifest: `${prefix}/_manifest.json`,
    quarantine: `${prefix}/_quarantine.jsonl`,
    part: (index) => `${prefix}/part-${String(index).padStart(5, '0')}.jsonl`,
  };
}

const isoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/);
const count = z.number().int().nonnegative();

export const manifestSchema = z.object({
  dataset: z.string(),
  window: z.object({ start: isoDate, stop: isoDate }),
  /** Source URL without credentials. */
  source: z.string(),
  fetched: count,
  staged: count,
  quarantined: count,
  quarantineReasons: z.record(z.string(), count),
  /** Staged files, relative to the store root; empty when the window had no valid rows. */
  parts: z.array(z.string()),
  quarantineFile: z.string().nullable(),
  stagedAt: z.string(),
  /** Fields of the definition that no record of the chunk carried; empty for a chunk without records. */
  missingFields: z.array(z.string()).default([]),
});

/** The record of a completely staged window. `fetched = staged + quarantined`, always. */
export type Manifest = z.infer<typeof manifestSchema> & {
  readonly quarantineReasons: Partial<Record<QuarantineReason, number>>;
};

export function parseManifest(text: string, path: string): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new Error(`the manifest ${path} is not JSON`, { cause: error });
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) throw new Error(`the manifest ${path} is invalid: ${z.prettifyError(parsed.error)}`);
  const manifest = parsed.data;
  if (manifest.fetched !== manifest.staged + manifest.quarantined) {
    throw new Error(`the manifest ${path} does not add up: fetched ${manifest.fetched} ≠ staged + quarantined`);
  }
  return manifest;
}
