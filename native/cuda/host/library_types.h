// HOST EMULATION ONLY. Not NVIDIA's header: the two data types dnn_api.h names (CUDA's values).
#pragma once

enum cudaDataType { CUDA_R_32F = 0, CUDA_R_16BF = 14 };
