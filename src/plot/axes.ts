/** The x axes figures can use; apart from figures.ts so the CLI can offer them without loading the canvas addon. */
export const X_AXES = ['epoch', 'time'] as const;
export type XAxis = (typeof X_AXES)[number];
