//! `x W^T` for a batch of data `x`, with a backward pass that skips `x`.
//!
//! candle's matrix product always computes the gradient of both its
//! arguments. In the head's first layers `x` is a batch of stored rows, not
//! a parameter, and its gradient (`[batch, input]`, as costly as the weight
//! gradient) would be computed, summed into a zero tensor and thrown away:
//! a third of a training step's arithmetic. Written as a custom operation
//! on `W` alone, with `x` held by the operation, only `W`'s gradient is made.

use candle_core::{CpuStorage, CustomOp1, Device, Layout, Shape, Tensor};

/// The operation `W -> x W^T`, for `W` of shape `[out, in]` and `x` of
/// shape `[batch, in]`.
pub(crate) struct DataLinear {
    x: Tensor,
}

impl DataLinear {
    /// `x` must be a `[batch, in]` tensor of data (no gradient wanted).
    pub fn new(x: &Tensor) -> candle_core::Result<DataLinear> {
        Ok(DataLinear {
            x: x.detach().contiguous()?,
        })
    }

    /// `x W^T`, `[batch, out]`, differentiable in `w`.
    pub fn apply(self, w: &Tensor) -> candle_core::Result<Tensor> {
        w.apply_op1(self)
    }
}

impl CustomOp1 for DataLinear {
    fn name(&self) -> &'static str {
        "data-linear"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let values = storage.as_slice::<f32>()?;
        let w = match layout.contiguous_offsets() {
            Some((start, end)) => {
                Tensor::from_slice(&values[start..end], layout.shape(), &Device::Cpu)?
            }
            None => {
                return Err(candle_core::Error::Msg(
                    "data-linear: the weights must be contiguous".into(),
                ))
            }
        };
        let y = self.x.matmul(&w.t()?)?;
        let shape = y.shape().clone();
        Ok((CpuStorage::F32(y.flatten_all()?.to_vec1::<f32>()?), shape))
    }

    fn bwd(
        &self,
        _w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        // d(x W^T)/dW: grad^T x, [out, in].
        Ok(Some(grad.t()?.matmul(&self.x)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Var;

    /// Same values and the same weight gradient as candle's own product.
    #[test]
    fn matches_matmul_and_its_gradient() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        let x = Tensor::from_vec(
            (0..12).map(|v| v as f32 * 0.3 - 1.0).collect(),
            (3, 4),
            &dev,
        )?;
        let w = Var::from_tensor(&Tensor::from_vec(
            (0..8).map(|v| (v as f32 * 0.7).sin()).collect(),
            (2, 4),
            &dev,
        )?)?;
        let ours = DataLinear::new(&x)?.apply(w.as_tensor())?;
        let theirs = x.matmul(&w.as_tensor().t()?)?;
        let flat = |t: &Tensor| t.flatten_all()?.to_vec1::<f32>();
        assert_eq!(ours.dims(), theirs.dims());
        for (a, b) in flat(&ours)?.iter().zip(&flat(&theirs)?) {
            assert!((a - b).abs() < 1e-5);
        }
        let g_ours = ours.sqr()?.sum_all()?.backward()?;
        let g_theirs = theirs.sqr()?.sum_all()?.backward()?;
        let (a, b) = (
            flat(g_ours.get(w.as_tensor()).expect("our gradient"))?,
            flat(g_theirs.get(w.as_tensor()).expect("their gradient"))?,
        );
        for (a, b) in a.iter().zip(&b) {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
        Ok(())
    }
}
