// The stack check's contract (modelship dev and check): one activity on each task queue reports its worker.

export interface WorkerReport {
  host: string;
  pid: number;
  node: string;
  mlflow: { uri: string; healthy: boolean; detail: string };
}

export interface TrainerReport {
  host: string;
  pid: number;
  python: string;
  packages: Record<string, string>;
}

export interface StackCheckInput {
  /** The training task queue to reach (the workflow itself runs on the orchestration queue). */
  trainingTaskQueue: string;
}

export interface StackCheckResult {
  orchestration: WorkerReport;
  training: TrainerReport;
}
