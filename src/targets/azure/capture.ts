// Capture on Azure: how a deployment is told to collect what it scores for Azure ML model monitoring.
// Azure ML declares collection on the deployment (`dataCollector`: collections model_inputs/model_outputs, sampling
// and rolling rate), but that property exists from API version 2023-04-01-preview on; @azure/arm-machinelearning
// 2.1.1 speaks 2022-10-01, whose model has no such property, and its serializer drops any property its model lacks.
// What 2022-10-01 carries is the deployment's environment: the scoring script's collector
// (python/modelship_scoring/capture.py, azureml-ai-monitoring's Collector, collections model_inputs and
// model_outputs) reads its settings from there.

/**
 * The deployment environment variables that turn collection on: the collector's own switch
 * (AZUREML_MDC_ENABLED) with its sampling at 100 %, since it would sample inputs and outputs independently;
 * the scoring script samples whole requests at `samplingRate` instead. Nothing when the rate is 0.
 */
export function captureEnvironment(samplingRate: number): Record<string, string> {
  if (samplingRate <= 0) return {};
  return { AZUREML_MDC_ENABLED: 'true', AZUREML_MDC_SAMPLE_RATE: '100', MODELSHIP_CAPTURE_SAMPLING_RATE: String(samplingRate) };
}
