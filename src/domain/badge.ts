/**
 * The pipeline status badge as GitLab 8.x–13.x drew it (Gitlab::Badge::Pipeline::Template
 * and badge.svg.erb): a grey "pipeline" key 62 px wide beside a coloured status 54 px
 * wide, 20 px high, in the flat style with a light gradient. `success` reads "passed".
 */
import type { components } from '../generated/api.js';

type PipelineStatus = components['schemas']['PipelineStatus'];
export type BadgeStatus = PipelineStatus | 'unknown';

const KEY_WIDTH = 62;
const VALUE_WIDTH = 54;

const STATUS_COLOR: Record<BadgeStatus, string> = {
  success: '#4c1',
  failed: '#e05d44',
  running: '#dfb317',
  pending: '#dfb317',
  created: '#9f9f9f',
  canceled: '#9f9f9f',
  skipped: '#9f9f9f',
  unknown: '#9f9f9f',
};

const STATUS_TEXT: Partial<Record<BadgeStatus, string>> = { success: 'passed' };

export function pipelineBadgeSvg(status: BadgeStatus): string {
  const width = KEY_WIDTH + VALUE_WIDTH;
  const text = STATUS_TEXT[status] ?? status;
  const keyAnchor = KEY_WIDTH / 2;
  const valueAnchor = KEY_WIDTH + VALUE_WIDTH / 2;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="20">`,
    '  <linearGradient id="b" x2="0" y2="100%">',
    '    <stop offset="0" stop-color="#bbb" stop-opacity=".1"/>',
    '    <stop offset="1" stop-opacity=".1"/>',
    '  </linearGradient>',
    '  <mask id="a">',
    `    <rect width="${width}" height="20" rx="3" fill="#fff"/>`,
    '  </mask>',
    '  <g mask="url(#a)">',
    `    <path fill="#555" d="M0 0 h${KEY_WIDTH} v20 H0 z"/>`,
    `    <path fill="${STATUS_COLOR[status]}" d="M${KEY_WIDTH} 0 h${VALUE_WIDTH} v20 H${KEY_WIDTH} z"/>`,
    `    <path fill="url(#b)" d="M0 0 h${width} v20 H0 z"/>`,
    '  </g>',
    '  <g fill="#fff" text-anchor="middle">',
    '    <g font-family="DejaVu Sans,Verdana,Geneva,sans-serif" font-size="11">',
    `      <text x="${keyAnchor}" y="15" fill="#010101" fill-opacity=".3">pipeline</text>`,
    `      <text x="${keyAnchor}" y="14">pipeline</text>`,
    `      <text x="${valueAnchor}" y="15" fill="#010101" fill-opacity=".3">${text}</text>`,
    `      <text x="${valueAnchor}" y="14">${text}</text>`,
    '    </g>',
    '  </g>',
    '</svg>',
    '',
  ].join('\n');
}
