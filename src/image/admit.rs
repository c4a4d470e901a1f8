//! What may reach Azure: the registry's copy of an image, read back (never assumed), gated as
//! linux/amd64 whatever the settings say — on its labels and on the program it starts. An
//! image the gate cannot read is refused: it never fails open. `deploy`, `--rollback-on-failure`
//! and `rollback` ask here (through `azure::acr::admit`, which logs in to the project's ACR
//! once when the registry wants it) before Azure is touched.
//!
//! May import: `image`, `ctx`, `config`, `report`.

use super::reference::ImageRef;
use super::{binaries, gate, registry};
use crate::config::default_platform;
use crate::ctx::Ctx;
use crate::report::error::Error;

/// The architecture gate once more, on what the registry holds under `image`, before Azure is
/// touched: Container Apps runs linux/amd64 only, whatever the settings say, and the image's
/// program must be an x86-64 one. An image the gate cannot read is refused: it never fails open.
pub fn for_azure(ctx: &Ctx, image: &ImageRef) -> Result<(), Error> {
    for_azure_or_login(ctx, image, &|| Ok(false))
}

/// [`for_azure`], and when the registry wants credentials to be read, `login` is asked once:
/// `Ok(true)` means it logged in, so the read is made again.
pub fn for_azure_or_login(
    ctx: &Ctx,
    image: &ImageRef,
    login: &dyn Fn() -> Result<bool, Error>,
) -> Result<(), Error> {
    let target = default_platform();
    let read = match registry::read_back(ctx, image, &target) {
        Err(e) if registry::refused_credentials(&e) => match login()? {
            true => registry::read_back(ctx, image, &target),
            false => Err(e),
        },
        other => other,
    };
    let back = match read {
        Ok(b) => b,
        Err(e @ Error::Cancelled(_)) => return Err(e),
        Err(e) => {
            let host = image.host.as_deref().unwrap_or("docker.io");
            return Err(Error::failed(
                format!(
                    "the architecture gate cannot read {image} from its registry, so it does not go to Azure\n  {}",
                    e.to_string().replace('\n', "\n  ")
                ),
                format!("log in to {host} here (`docker login {host}`; for ACR `az acr login --name <acr>`) so the image can be checked before Azure runs it"),
            ));
        }
    };
    gate::check(&back.platforms, &target, None)?;
    binaries::check_pushed(ctx, image, &back, &target)
}
