"""Schools on EKS: an imported or new cluster, the School image, its IRSA service account and Deployment."""

from __future__ import annotations

from typing import cast

from aws_cdk import IgnoreMode, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_eks as eks
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk.lambda_layer_kubectl_v35 import KubectlV35Layer
from constructs import Construct

from cdk.bundling import REPO_ROOT
from cdk.config import StageConfig
from cdk.school_manifests import SchoolWorkload, school_deployment, school_disruption_budget, school_namespace
from cdk.token_storage import TokenStorage

KUBERNETES_VERSION = eks.KubernetesVersion.V1_35
SCHOOL_NAME = "koipond-school"
# Docker-style ignore file semantics: everything out, then back in only what the Dockerfile copies.
# Keeps .venv, .git and test output out of the staged build context (and out of its fingerprint).
IMAGE_CONTEXT = ["*", "!pyproject.toml", "!uv.lock", "!README.md", "!koipond", "!lambdas", "!school_container",
                 "!behaviors", "**/__pycache__", "**/*.pyc"]  # fmt: skip


class SchoolsOnEks(Construct):
    """The School Deployment (+ PDB) on ``koipond:eksClusterName``, or on a cluster made here."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: StageConfig, storage: TokenStorage, keeper_url: str
    ) -> None:
        super().__init__(scope, construct_id)
        self.kubectl_layer = KubectlV35Layer(self, "KubectlLayer")
        self.new_cluster: eks.Cluster | None = None
        if config.imports_eks_cluster:
            cluster = _imported_cluster(self, config, self.kubectl_layer)
        else:
            self.new_cluster = _new_cluster(self, config, self.kubectl_layer)
            # Cluster implements ICluster; jsii's generated stubs type one optional member differently.
            cluster = cast(eks.ICluster, self.new_cluster)
        self.cluster = cluster
        self.image = school_image(self)
        workload = SchoolWorkload(
            namespace=config.school_namespace,
            service_account=SCHOOL_NAME,
            image=self.image.image_uri,
            replicas=config.school_replicas,
            capacity=config.school_capacity,
            keeper_url=keeper_url.rstrip("/"),
            token_secret=config.school_token_secret,
            token_bucket=storage.bucket.bucket_name,
            region=Stack.of(self).region,
        )
        self._apply(cluster, workload, storage)
        self.restricts_public_endpoint = bool(_public_access_cidrs(config))

    def _apply(self, cluster: eks.ICluster, workload: SchoolWorkload, storage: TokenStorage) -> None:
        """Namespace, then the IRSA service account, then the Deployment and PDB that run as it."""
        namespace = cluster.add_manifest("Namespace", school_namespace(workload))
        self.service_account = eks.ServiceAccount(
            self, "ServiceAccount", cluster=cluster, name=workload.service_account, namespace=workload.namespace
        )
        self.service_account.node.add_dependency(namespace)
        storage.grant_shard_reads(self.service_account)
        self.workload = cluster.add_manifest("School", school_deployment(workload), school_disruption_budget(workload))
        self.workload.node.add_dependency(self.service_account)


def school_image(scope: Construct) -> ecr_assets.DockerImageAsset:
    """Synthesis only stages the build context; ``cdk deploy`` builds the image with Docker and pushes it."""
    return ecr_assets.DockerImageAsset(
        scope,
        "SchoolImage",
        directory=str(REPO_ROOT),
        file="school_container/Dockerfile",
        exclude=IMAGE_CONTEXT,
        ignore_mode=IgnoreMode.DOCKER,
        platform=ecr_assets.Platform.LINUX_AMD64,
    )


def _imported_cluster(scope: Construct, config: StageConfig, layer: KubectlV35Layer) -> eks.ICluster:
    """An existing cluster: CDK's kubectl Lambda assumes the given role, IRSA trusts the given OIDC provider."""
    if not (config.eks_kubectl_role_arn and config.eks_oidc_provider_arn):
        raise ValueError(
            "koipond:eksClusterName needs koipond:eksKubectlRoleArn (a role in the cluster's system:masters or "
            "with a cluster-admin access entry) and koipond:eksOidcProviderArn (the cluster's IAM OIDC provider)"
        )
    return eks.Cluster.from_cluster_attributes(
        scope,
        "Cluster",
        cluster_name=str(config.eks_cluster_name),
        kubectl_role_arn=config.eks_kubectl_role_arn,
        open_id_connect_provider=iam.OpenIdConnectProvider.from_open_id_connect_provider_arn(
            scope, "OidcProvider", config.eks_oidc_provider_arn
        ),
        kubectl_layer=layer,
    )


def _new_cluster(scope: Construct, config: StageConfig, layer: KubectlV35Layer) -> eks.Cluster:
    """Two AZs, one NAT gateway (Schools only call out), secrets envelope-encrypted, one node per School."""
    vpc = ec2.Vpc(
        scope,
        "Vpc",
        max_azs=2,
        nat_gateways=1,
        flow_logs={"Rejected": ec2.FlowLogOptions(traffic_type=ec2.FlowLogTrafficType.REJECT)},
    )
    cluster = eks.Cluster(
        scope,
        "Cluster",
        version=KUBERNETES_VERSION,
        kubectl_layer=layer,
        vpc=vpc,
        default_capacity=0,
        secrets_encryption_key=kms.Key(scope, "ClusterSecretsKey", enable_key_rotation=True),
        cluster_logging=list(eks.ClusterLoggingTypes),
        endpoint_access=_endpoint_access(config),
        # Operators assume this role for kubectl (the output ConfigCommand), e.g. to create the token Secret.
        masters_role=iam.Role(scope, "ClusterAdminRole", assumed_by=iam.AccountRootPrincipal()),
        output_config_command=True,
    )
    cluster.add_nodegroup_capacity(
        "SchoolNodes",
        instance_types=[ec2.InstanceType(config.school_node_instance_type)],
        # EKS publishes no Amazon Linux 2 node AMIs for Kubernetes 1.33 and later (CDK's default is AL2).
        ami_type=eks.NodegroupAmiType.AL2023_X86_64_STANDARD,
        min_size=config.school_replicas,
        desired_size=config.school_replicas,
        # Room for a rolling update's surge pod and for scaling replicas without a redeploy of nodes.
        max_size=2 * config.school_replicas,
    )
    return cluster


def _endpoint_access(config: StageConfig) -> eks.EndpointAccess:
    """Public (IAM-authenticated) so operators can run kubectl without a bastion; narrowed by CIDRs if given."""
    cidrs = _public_access_cidrs(config)
    return eks.EndpointAccess.PUBLIC_AND_PRIVATE.only_from(*cidrs) if cidrs else eks.EndpointAccess.PUBLIC_AND_PRIVATE


def _public_access_cidrs(config: StageConfig) -> list[str]:
    return [cidr.strip() for cidr in (config.eks_public_access_cidrs or "").split(",") if cidr.strip()]
