/** One character of each style, every option explicit, for render tests: override what the test is about. */
import type { CharacterRecipe } from '../../src/dataset/synthetic/character.ts';

export function adventurer(options: Record<string, unknown> = {}, place: Partial<CharacterRecipe> = {}): CharacterRecipe {
  return {
    style: 'adventurer',
    options: {
      base: ['default'], hair: ['short04'], hairColor: ['5b3a1e'], skinColor: ['f2d3b1'], eyes: ['variant01'], eyebrows: ['variant01'],
      mouth: ['variant02'], features: ['blush'], featuresProbability: 0, glasses: ['variant02'], glassesProbability: 0,
      earrings: ['variant02'], earringsProbability: 0, hairProbability: 100, ...options,
    },
    x: 0.5, y: 0.5, size: 1, rotation: 0, flip: false, ...place,
  };
}

export function lorelei(options: Record<string, unknown> = {}, place: Partial<CharacterRecipe> = {}): CharacterRecipe {
  const ink = ['000000'];
  return {
    style: 'lorelei',
    options: {
      hair: ['variant15'], hairColor: ['2f63d6'], skinColor: ['f2d3b1'], head: ['variant01'], eyes: ['variant04'], eyebrows: ['variant01'], nose: ['variant01'],
      mouth: ['happy01'], glasses: ['variant01'], glassesProbability: 0, earrings: ['variant01'], earringsProbability: 0, beard: ['variant01'], beardProbability: 0,
      freckles: ['variant01'], frecklesProbability: 0, hairAccessories: ['flowers'], hairAccessoriesProbability: 0, hairAccessoriesColor: ['e85d9c'],
      earringsColor: ink, eyebrowsColor: ink, eyesColor: ink, frecklesColor: ink, glassesColor: ink, mouthColor: ink, noseColor: ink, ...options,
    },
    x: 0.5, y: 0.5, size: 1, rotation: 0, flip: false, ...place,
  };
}

export function micah(options: Record<string, unknown> = {}, place: Partial<CharacterRecipe> = {}): CharacterRecipe {
  return {
    style: 'micah',
    options: {
      base: ['standard'], hair: ['full'], hairColor: ['3c7ae6'], hairProbability: 100, baseColor: ['f2d3b1'], eyes: ['eyes'], mouth: ['smile'], eyebrows: ['up'],
      nose: ['curve'], ears: ['attached'], shirt: ['crew'], shirtColor: ['6bd9e9'], glasses: ['round'], glassesProbability: 0, glassesColor: ['000000'],
      earrings: ['hoop'], earringsProbability: 0, earringColor: ['f4d150'], facialHair: ['beard'], facialHairProbability: 0, facialHairColor: ['000000'], ...options,
    },
    x: 0.5, y: 0.5, size: 1, rotation: 0, flip: false, ...place,
  };
}
