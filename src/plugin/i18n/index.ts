export * from './catalog.js';
export * from './request.js';
export * from './errors.js';
