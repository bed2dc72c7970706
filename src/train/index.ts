/** `tagbooru/train`: the training API, kept off the main entry so tagging never loads it. */
export { createTrainer, Trainer, type TrainerConfig } from './trainer.ts';
export { trainProject, type TrainProjectOptions, type TrainProjectResult } from './project-training.ts';
export { readProject, validateProject, DEFAULT_PROJECT, type ProjectConfig, type LoadedProject } from './project.ts';
export { computeMetrics, fitThresholds, averagePrecision, type Metrics, type TagMetrics } from './metrics.ts';
export { encodeSafetensors, decodeSafetensors } from '../formats/safetensors.ts';
