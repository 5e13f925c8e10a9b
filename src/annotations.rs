//! Service-account annotation keys this plugin reads in pod-identity mode.
//!
//! Kubelet forwards only the annotation keys a provider's `tokenAttributes` lists, so these
//! names are part of the contract between a kubelet config and the binary. They live in one
//! place so the backends and `validate-config` (which warns about keys nobody reads) agree.

/// EKS: role to assume for ECR pulls (preferred, specific to image pulls).
pub const AWS_ECR_ROLE_ARN: &str = "eks.amazonaws.com/ecr-role-arn";
/// EKS IRSA: the pod's general role, used when no ECR-specific role is annotated.
pub const AWS_ROLE_ARN: &str = "eks.amazonaws.com/role-arn";
/// AKS: client id of the identity that pulls from ACR.
pub const AZURE_ACR_CLIENT_ID: &str = "kubernetes.azure.com/acr-client-id";
/// AKS: tenant of that identity.
pub const AZURE_ACR_TENANT_ID: &str = "kubernetes.azure.com/acr-tenant-id";
/// Azure Workload Identity: client id, used when no ACR-specific one is annotated.
pub const AZURE_WI_CLIENT_ID: &str = "azure.workload.identity/client-id";
/// Azure Workload Identity: tenant id, used when no ACR-specific one is annotated.
pub const AZURE_WI_TENANT_ID: &str = "azure.workload.identity/tenant-id";
/// GKE: opt the pod in to workload-identity image pulls (value must be exactly `"true"`).
pub const GKE_ENABLE_WI_IMAGE_PULL: &str = "iam.gke.io/enable-wi-image-pull";
/// GKE: Google service account to impersonate with the federated token.
pub const GKE_GCP_SERVICE_ACCOUNT: &str = "iam.gke.io/gcp-service-account";

/// Every key above, for validate-config's "this key is never read" warning.
pub const KNOWN: &[&str] = &[
    AWS_ECR_ROLE_ARN,
    AWS_ROLE_ARN,
    AZURE_ACR_CLIENT_ID,
    AZURE_ACR_TENANT_ID,
    AZURE_WI_CLIENT_ID,
    AZURE_WI_TENANT_ID,
    GKE_ENABLE_WI_IMAGE_PULL,
    GKE_GCP_SERVICE_ACCOUNT,
];
