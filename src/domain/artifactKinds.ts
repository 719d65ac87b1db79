/**
 * The artifact types and formats of the runner API v4 (`artifact_type`, `artifact_format`):
 * which formats GitLab accepts for a type. A report uploaded in the wrong format is refused
 * (400) rather than stored under a name that lies about its bytes.
 */
import type { components } from '../generated/api.js';
import type { ArtifactKind } from './artifacts.js';

export type ArtifactType = components['schemas']['ArtifactType'];
export type ArtifactFormat = 'zip' | 'gzip' | 'raw';

/**
 * The types whose format GitLab fixes (its TYPE_AND_FORMAT_PAIRS); the other report types
 * are taken in any of the three formats.
 */
const REQUIRED_FORMAT: Partial<Record<ArtifactType, ArtifactFormat>> = {
  archive: 'zip',
  metadata: 'gzip',
  trace: 'raw',
  junit: 'gzip',
  dotenv: 'gzip',
  cobertura: 'gzip',
  lsif: 'zip',
};

export type ArtifactKindOutcome = { valid: true; kind: ArtifactKind } | { valid: false; reason: string };

/** The upload's type and format as the query gives them (defaults: `archive`, `zip`), checked against each other. */
export function artifactKindOf(type: ArtifactType | undefined, format: ArtifactFormat | undefined): ArtifactKindOutcome {
  const fileType = type ?? 'archive';
  const fileFormat = format ?? 'zip';
  const required = REQUIRED_FORMAT[fileType];
  if (required !== undefined && required !== fileFormat) {
    return { valid: false, reason: `artifact_format ${fileFormat} is not valid for artifact_type ${fileType} (it must be ${required})` };
  }
  return { valid: true, kind: { fileType, fileFormat } };
}
