/** The package's entry points resolve by name, as a user's `import … from 'tagbooru/train'` does. */
import { expect, test } from 'vitest';

test('the main entry and the subpath entries export their APIs', async () => {
  expect(typeof (await import('tagbooru')).createTagger).toBe('function');
  expect(typeof (await import('tagbooru/train')).createTrainer).toBe('function');
  expect(typeof (await import('tagbooru/train')).trainProject).toBe('function');
  expect(typeof (await import('tagbooru/import')).importModel).toBe('function');
  expect(typeof (await import('tagbooru/data')).TrainingDatabase).toBe('function');
  expect(typeof (await import('tagbooru/dataset')).makeSyntheticDataset).toBe('function');
  expect(typeof (await import('tagbooru/server')).buildApp).toBe('function');
});
