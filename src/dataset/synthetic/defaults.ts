/** The generator's defaults, apart from the generator so the CLI can show them without loading it. */
export const SYNTHETIC_DEFAULTS = { size: 256, masks: true, preset: 'default' } as const;
