// Tag-list predicates differ between the stores, so they live with the rest of that SQL.
export { tagListHasAll, tagListWithin } from './dialect.js';
